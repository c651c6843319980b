-- Every problem with the staged subscriptions as (line, column, message), in file order:
-- fields, each item, the shapes the table holds (a paused one's date, the term's order), and
-- where billing goes on: after the last period billed, on a billing day, and not in the past
-- (the next billing run would invoice every period since).
-- Index: subscriptions and subscription_periods primary keys.
WITH s AS (
    SELECT s.*, cur.currency AS current_currency, cur.next_billing_on AS current_next,
           (SELECT max(p.period_end) FROM subscription_periods p
            WHERE p.tenant_id = %(tenant_id)s AND p.subscription_id = s.target_id) AS billed_until,
           (now() AT TIME ZONE t.time_zone)::date AS today,
           CASE WHEN bizctx_import.is_integer(btrim(s.billing_day)) THEN btrim(s.billing_day)::integer END
               AS billing_day_n,
           coalesce(lower(btrim(s.status)), 'active') AS status_v,
           upper(btrim(s.currency)) AS currency_code,
           CASE WHEN bizctx_import.is_date(btrim(s.starts_on)) THEN btrim(s.starts_on)::date END AS starts_d,
           CASE WHEN bizctx_import.is_date(btrim(s.ends_on)) THEN btrim(s.ends_on)::date END AS ends_d,
           CASE WHEN bizctx_import.is_date(btrim(s.next_billing_on)) THEN btrim(s.next_billing_on)::date END AS next_d,
           CASE WHEN bizctx_import.is_date(btrim(s.paused_until)) THEN btrim(s.paused_until)::date END AS paused_d,
           bizctx_import.json_value(s.items) AS items_json,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY btrim(s.external_ref)) AS first_ref_line
    FROM bizctx_import.subscriptions s
    JOIN tenants t ON t.id = %(tenant_id)s
    LEFT JOIN subscriptions cur ON cur.tenant_id = %(tenant_id)s AND cur.id = s.target_id
),
item_problems AS (
    SELECT i.line, string_agg(format('item %%s: %%s', i.position, x.msg), '; ' ORDER BY i.position, x.k) AS msg
    FROM bizctx_import.subscription_items i
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN jsonb_typeof(i.raw) <> 'object' THEN 'is not an object' END),
        (2, (SELECT 'unknown key ' || string_agg(k, ', ')
             FROM jsonb_object_keys(CASE WHEN jsonb_typeof(i.raw) = 'object' THEN i.raw END) k
             WHERE k NOT IN ('description', 'quantity', 'unit_price', 'discount_pct', 'tax_pct', 'service_code'))),
        (3, CASE WHEN jsonb_typeof(i.raw) <> 'object' THEN NULL
                 WHEN i.description IS NULL THEN 'description is required'
                 WHEN length(i.description) > 1000 THEN 'description takes at most 1000 characters' END),
        (4, CASE WHEN i.quantity_n IS NULL
                 THEN format('quantity %%s is not a number (at most 4 decimals)', i.quantity)
                 WHEN i.quantity_n <= 0 THEN 'quantity must be more than 0' END),
        (5, CASE WHEN jsonb_typeof(i.raw) <> 'object' THEN NULL
                 WHEN i.unit_price IS NULL THEN 'unit_price is required'
                 WHEN i.unit_price_n IS NULL
                 THEN format('unit_price %%s is not an amount (digits, a point, at most 4 decimals)', i.unit_price)
                 END),
        (6, CASE WHEN i.discount_n IS NULL OR i.discount_n > 100
                 THEN format('discount_pct %%s is not a percentage from 0 to 100', i.discount_pct) END),
        (7, CASE WHEN i.tax_n IS NULL OR i.tax_n > 100
                 THEN format('tax_pct %%s is not a percentage from 0 to 100', i.tax_pct) END),
        (8, CASE WHEN i.service_code IS NOT NULL AND i.service_id IS NULL
                 THEN format('unknown service code %%s', i.service_code) END)
    ) AS x(k, msg)
    WHERE x.msg IS NOT NULL
    GROUP BY i.line
)
SELECT s.line, v.col AS "column", v.msg AS message
FROM s
LEFT JOIN item_problems ip ON ip.line = s.line
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(s.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN s.first_ref_line < s.line
            THEN format('%%s is also on line %%s: each subscription may appear once per file',
                        btrim(s.external_ref), s.first_ref_line) END),
    ('client_ref', CASE
        WHEN s.client_id IS NOT NULL THEN NULL
        WHEN s.client_ref IS NULL THEN 'is required: the external_ref of the client'
        ELSE format('no client has external_ref %%s (import clients first)', btrim(s.client_ref)) END),
    ('plan_name', CASE
        WHEN s.plan_name IS NULL OR btrim(s.plan_name) = '' THEN 'is required'
        WHEN length(btrim(s.plan_name)) > 200 THEN 'is longer than 200 characters' END),
    ('status', CASE WHEN s.status_v NOT IN ('active', 'paused', 'cancelled', 'ended')
        THEN format('must be active, paused, cancelled or ended, not %%s', s.status) END),
    ('billing_cycle', CASE
        WHEN s.billing_cycle IS NULL THEN 'is required: monthly, quarterly or annual'
        WHEN lower(btrim(s.billing_cycle)) NOT IN ('monthly', 'quarterly', 'annual')
            THEN format('must be monthly, quarterly or annual, not %%s', s.billing_cycle) END),
    ('billing_day', CASE
        WHEN s.billing_day IS NULL THEN NULL
        WHEN NOT bizctx_import.is_integer(btrim(s.billing_day)) OR btrim(s.billing_day)::integer NOT BETWEEN 1 AND 31
            THEN format('%%s is not a day of the month from 1 to 31', s.billing_day) END),
    ('currency', CASE
        WHEN s.currency IS NULL THEN 'is required (ISO 4217, e.g. EUR)'
        WHEN s.currency_code !~ '^[A-Z]{3}$' THEN format('%%s is not an ISO 4217 currency code like EUR', s.currency)
        WHEN s.current_currency IS DISTINCT FROM s.currency_code AND s.target_id IS NOT NULL AND s.items IS NULL
            THEN format('changes from %%s: give the items too, priced in %%s', s.current_currency, s.currency_code)
        END),
    ('starts_on', CASE
        WHEN s.starts_on IS NULL THEN 'is required (YYYY-MM-DD)'
        WHEN s.starts_d IS NULL THEN format('%%s is not a date (YYYY-MM-DD)', s.starts_on) END),
    ('ends_on', CASE
        WHEN s.ends_on IS NULL THEN NULL
        WHEN s.ends_d IS NULL THEN format('%%s is not a date (YYYY-MM-DD)', s.ends_on)
        WHEN s.ends_d < s.starts_d THEN 'must not be before starts_on' END),
    ('auto_renew', CASE WHEN NOT bizctx_import.is_bool(s.auto_renew)
        THEN format('%%s is not true or false', s.auto_renew) END),
    ('next_billing_on', CASE
        WHEN s.next_billing_on IS NULL
            THEN CASE WHEN s.status_v IN ('active', 'paused')
                      THEN 'is required for an active or paused subscription: the next period''s start (YYYY-MM-DD)' END
        WHEN s.next_d IS NULL THEN format('%%s is not a date (YYYY-MM-DD)', s.next_billing_on)
        WHEN s.next_d < s.starts_d THEN 'must not be before starts_on'
        WHEN s.next_d <= s.billed_until
            THEN format('must be after %%s, the end of the last period billed', s.billed_until)
        WHEN s.next_d IS DISTINCT FROM s.current_next AND s.status_v IN ('active', 'paused') AND s.next_d < s.today
            THEN format('%%s is before today (%%s): the next billing run would invoice every period since; give '
                        'the next period to bill, today or later', s.next_billing_on, s.today)
        WHEN extract(day FROM s.next_d)::integer
             <> least(coalesce(s.billing_day_n, extract(day FROM s.starts_d)::integer),
                      extract(day FROM date_trunc('month', s.next_d) + interval '1 month - 1 day')::integer)
            THEN format('%%s is not on the billing day (%%s, or the last day of a shorter month)',
                        s.next_billing_on, coalesce(s.billing_day_n, extract(day FROM s.starts_d)::integer))
        END),
    ('paused_until', CASE
        WHEN s.paused_until IS NULL THEN NULL
        WHEN s.paused_d IS NULL THEN format('%%s is not a date (YYYY-MM-DD)', s.paused_until)
        WHEN s.status_v <> 'paused' THEN 'is for a paused subscription only' END),
    ('cancel_reason', CASE WHEN length(s.cancel_reason) > 1000 THEN 'takes at most 1000 characters' END),
    ('items', CASE
        WHEN s.items IS NULL
            THEN CASE WHEN s.target_id IS NULL THEN 'is required for a new subscription: a JSON array of items' END
        WHEN s.items_json IS NULL OR jsonb_typeof(s.items_json) <> 'array' OR jsonb_array_length(s.items_json) = 0
            THEN 'must be a JSON array of one or more item objects, e.g. [{"description": "Weekly clean", '
                 '"quantity": "4", "unit_price": "45.50"}]'
        ELSE ip.msg END)
) AS v(col, msg)
WHERE v.msg IS NOT NULL
ORDER BY s.line, v.col

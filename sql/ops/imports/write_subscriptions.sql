-- Inserts new subscriptions and updates changed ones from the staged rows (unchanged ones are
-- not touched); the amount per period is the staged items' rounded nets, or stays as it is
-- when the file has no items for the row. Returns how many were inserted and updated.
-- Index: subscriptions primary key (tenant_id, id).
WITH staged AS (
    SELECT s.*, upper(btrim(s.currency)) AS currency_code,
           CASE lower(btrim(s.billing_cycle)) WHEN 'monthly' THEN 'month' WHEN 'quarterly' THEN 'quarter'
                                              ELSE 'year' END AS billing_interval,
           (SELECT coalesce(sum(bizctx_round_money(i.quantity_n * i.unit_price_n * (1 - i.discount_n / 100),
                                                   upper(btrim(s.currency)))), 0)
            FROM bizctx_import.subscription_items i WHERE i.line = s.line) AS items_amount
    FROM bizctx_import.subscriptions s
),
written AS (
    INSERT INTO subscriptions AS x (tenant_id, id, external_ref, client_id, plan_name, status, billing_interval,
                                    billing_day, amount, currency, starts_on, ends_on, auto_renew, next_billing_on,
                                    paused_until, cancel_reason)
    SELECT %(tenant_id)s, s.id,
           CASE WHEN bizctx_import.ref_id(s.external_ref) = s.target_id THEN NULL ELSE btrim(s.external_ref) END,
           s.client_id, btrim(s.plan_name), coalesce(lower(btrim(s.status)), 'active'), s.billing_interval,
           coalesce(btrim(s.billing_day)::smallint, extract(day FROM btrim(s.starts_on)::date)::smallint),
           CASE WHEN s.items IS NULL THEN cur.amount ELSE s.items_amount END, s.currency_code,
           btrim(s.starts_on)::date, btrim(s.ends_on)::date,
           coalesce(lower(btrim(s.auto_renew)) IN ('true', 't', 'yes', 'y', '1'), true),
           btrim(s.next_billing_on)::date, btrim(s.paused_until)::date, s.cancel_reason
    FROM staged s
    LEFT JOIN subscriptions cur ON cur.tenant_id = %(tenant_id)s AND cur.id = s.target_id
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET external_ref = coalesce(excluded.external_ref, x.external_ref), client_id = excluded.client_id,
        plan_name = excluded.plan_name, status = excluded.status, billing_interval = excluded.billing_interval,
        billing_day = excluded.billing_day, amount = excluded.amount, currency = excluded.currency,
        starts_on = excluded.starts_on, ends_on = excluded.ends_on, auto_renew = excluded.auto_renew,
        next_billing_on = excluded.next_billing_on, paused_until = excluded.paused_until,
        cancel_reason = excluded.cancel_reason
    WHERE (x.external_ref, x.client_id, x.plan_name, x.status, x.billing_interval, x.billing_day, x.amount,
           x.currency, x.starts_on, x.ends_on, x.auto_renew, x.next_billing_on, x.paused_until, x.cancel_reason)
          IS DISTINCT FROM
          (coalesce(excluded.external_ref, x.external_ref), excluded.client_id, excluded.plan_name, excluded.status,
           excluded.billing_interval, excluded.billing_day, excluded.amount, excluded.currency, excluded.starts_on,
           excluded.ends_on, excluded.auto_renew, excluded.next_billing_on, excluded.paused_until,
           excluded.cancel_reason)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM written

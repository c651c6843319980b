-- Every problem with the staged invoices as (line, column, message), in file order: fields,
-- each item and payment, totals that do not add up, statuses the payments contradict, and
-- changes the schema forbids (lines of a paid invoice, payments taken back, renumbering).
-- Index: invoices (tenant_id, invoice_number) and (tenant_id, number), payments (tenant_id, external_ref).
WITH s AS (
    SELECT s.*, cur.status AS current_status, cur.invoice_number AS current_number, cur.currency AS current_currency,
           cur.amount_paid AS current_paid, t.invoice_prefix,
           upper(btrim(s.currency)) AS currency_code,
           CASE WHEN bizctx_import.is_date(btrim(s.issue_date)) THEN btrim(s.issue_date)::date END AS issue_d,
           CASE WHEN bizctx_import.is_date(btrim(s.due_date)) THEN btrim(s.due_date)::date END AS due_d,
           bizctx_import.json_value(s.items) AS items_json,
           bizctx_import.json_value(s.payments) AS payments_json,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY btrim(s.external_ref)) AS first_ref_line,
           min(s.line) FILTER (WHERE s.invoice_number IS NOT NULL)
               OVER (PARTITION BY btrim(s.invoice_number)) AS first_number_line
    FROM bizctx_import.invoices s
    JOIN tenants t ON t.id = %(tenant_id)s
    LEFT JOIN invoices cur ON cur.tenant_id = %(tenant_id)s AND cur.id = s.target_id
),
numbered AS (
    SELECT s.line,
           CASE WHEN left(btrim(s.invoice_number), length(s.invoice_prefix)) = s.invoice_prefix
                     AND substr(btrim(s.invoice_number), length(s.invoice_prefix) + 1) ~ '^\d{1,15}$'
                THEN substr(btrim(s.invoice_number), length(s.invoice_prefix) + 1)::bigint END AS number
    FROM s
),
number_owners AS (
    SELECT DISTINCT ON (s.line) s.line,
           format('%%s already belongs to another invoice (%%s)', btrim(s.invoice_number),
                  coalesce('external_ref ' || i.external_ref, 'id ' || i.id)) AS msg
    FROM s
    JOIN numbered n ON n.line = s.line
    JOIN invoices i ON i.tenant_id = %(tenant_id)s AND i.id <> s.id
                   AND (i.invoice_number = btrim(s.invoice_number) OR i.number = n.number)
    ORDER BY s.line, i.id
),
item_problems AS (
    SELECT i.line, string_agg(format('item %%s: %%s', i.position, x.msg), '; ' ORDER BY i.position, x.k) AS msg
    FROM bizctx_import.invoice_items i
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN jsonb_typeof(i.raw) <> 'object' THEN 'is not an object' END),
        (2, (SELECT 'unknown key ' || string_agg(k, ', ')
             FROM jsonb_object_keys(CASE WHEN jsonb_typeof(i.raw) = 'object' THEN i.raw END) k
             WHERE k NOT IN ('description', 'quantity', 'unit_price', 'discount_pct', 'tax_pct', 'service_code',
                             'appointment_ref'))),
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
                 THEN format('unknown service code %%s', i.service_code) END),
        (9, CASE WHEN i.appointment_ref IS NOT NULL AND i.appointment_id IS NULL
                 THEN format('no appointment has external_ref %%s', i.appointment_ref) END)
    ) AS x(k, msg)
    WHERE x.msg IS NOT NULL
    GROUP BY i.line
),
payment_problems AS (
    SELECT p.line, string_agg(format('payment %%s: %%s', p.n, x.msg), '; ' ORDER BY p.n, x.k) AS msg
    FROM bizctx_import.invoice_payments p
    JOIN s ON s.line = p.line
    LEFT JOIN payments known ON known.tenant_id = %(tenant_id)s AND known.id = p.target_id
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN jsonb_typeof(p.raw) <> 'object' THEN 'is not an object' END),
        (2, (SELECT 'unknown key ' || string_agg(k, ', ')
             FROM jsonb_object_keys(CASE WHEN jsonb_typeof(p.raw) = 'object' THEN p.raw END) k
             WHERE k NOT IN ('external_ref', 'amount', 'method', 'paid_at', 'reference', 'notes'))),
        (3, CASE WHEN jsonb_typeof(p.raw) <> 'object' THEN NULL
                 WHEN p.amount IS NULL THEN 'amount is required'
                 WHEN p.amount_n IS NULL
                 THEN format('amount %%s is not an amount (digits, a point; no currency sign)', p.amount)
                 WHEN p.amount_n <= 0 THEN 'amount must be more than 0'
                 WHEN s.currency_code ~ '^[A-Z]{3}$' AND p.amount_n <> bizctx_round_money(p.amount_n, s.currency_code)
                 THEN format('amount %%s has more decimals than %%s has', p.amount, s.currency_code) END),
        (4, CASE WHEN p.method NOT IN ('cash', 'card', 'bank_transfer', 'check', 'other')
                 THEN format('method must be cash, card, bank_transfer, check or other, not %%s', p.method) END),
        (5, CASE WHEN jsonb_typeof(p.raw) <> 'object' THEN NULL
                 WHEN p.paid_at IS NULL THEN 'paid_at is required (e.g. 2025-03-01T09:00:00+01:00)'
                 WHEN p.paid_at_t IS NULL
                 THEN format('paid_at %%s is not a timestamp with an offset, like 2025-03-01T09:00:00+01:00', p.paid_at)
                 END),
        (6, CASE WHEN length(p.external_ref) > 200 THEN 'external_ref is longer than 200 characters'
                 WHEN p.external_ref IS NOT NULL AND EXISTS (
                     SELECT 1 FROM bizctx_import.invoice_payments o
                     WHERE o.external_ref = p.external_ref AND (o.line, o.n) < (p.line, p.n))
                 THEN format('external_ref %%s is listed twice', p.external_ref)
                 WHEN known.id IS NOT NULL AND known.invoice_id <> p.invoice_id
                 THEN format('payment %%s belongs to another invoice', p.external_ref)
                 WHEN known.id IS NOT NULL AND known.amount <> p.amount_n
                 THEN format('payment %%s is recorded as %%s; a recorded payment cannot change', p.external_ref,
                             bizctx_import.money_text(known.amount, known.currency)) END),
        (7, CASE WHEN length(p.reference) > 200 THEN 'reference takes at most 200 characters' END)
    ) AS x(k, msg)
    WHERE x.msg IS NOT NULL
    GROUP BY p.line
),
payments_dropped AS (
    SELECT s.line, string_agg(coalesce(pm.external_ref, bizctx_import.money_text(pm.amount, pm.currency)
                                       || ' on ' || to_char(pm.paid_at, 'YYYY-MM-DD')), ', ') AS msg
    FROM s
    JOIN payments pm ON pm.tenant_id = %(tenant_id)s AND pm.invoice_id = s.target_id
    WHERE s.payments IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM bizctx_import.invoice_payments p WHERE p.line = s.line AND p.target_id = pm.id)
    GROUP BY s.line
)
SELECT s.line, v.col AS "column", v.msg AS message
FROM s
LEFT JOIN number_owners nb ON nb.line = s.line
LEFT JOIN item_problems ip ON ip.line = s.line
LEFT JOIN payment_problems pp ON pp.line = s.line
LEFT JOIN payments_dropped pd ON pd.line = s.line
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(s.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN s.first_ref_line < s.line
            THEN format('%%s is also on line %%s: each invoice may appear once per file', btrim(s.external_ref),
                        s.first_ref_line) END),
    ('invoice_number', CASE
        WHEN s.invoice_number IS NULL THEN NULL
        WHEN length(btrim(s.invoice_number)) > 50 THEN 'is longer than 50 characters'
        WHEN s.first_number_line < s.line
            THEN format('%%s is also on line %%s', btrim(s.invoice_number), s.first_number_line)
        WHEN s.current_number IS NOT NULL AND s.current_number <> btrim(s.invoice_number)
            THEN format('invoice %%s cannot be renumbered', s.current_number)
        ELSE nb.msg END),
    ('client_ref', CASE
        WHEN s.client_id IS NOT NULL THEN NULL
        WHEN s.client_ref IS NULL THEN 'is required: the external_ref of the client'
        ELSE format('no client has external_ref %%s (import clients first)', btrim(s.client_ref)) END),
    ('status', CASE
        WHEN s.final_status NOT IN ('draft', 'open', 'partial', 'paid', 'void')
            THEN format('must be draft, open, partial, paid or void, not %%s', s.status)
        WHEN s.current_status IS NOT NULL AND s.current_status <> s.final_status
             AND (s.current_status, s.final_status) NOT IN (
                 ('draft', 'open'), ('draft', 'partial'), ('draft', 'paid'), ('draft', 'void'),
                 ('open', 'partial'), ('open', 'paid'), ('open', 'void'), ('partial', 'paid'))
            THEN format('cannot change from %%s to %%s', s.current_status, s.final_status)
        -- A status worked out from the payments agrees with them; one the file gives must too.
        WHEN s.status IS NULL OR s.paid_total IS NULL OR s.items_total IS NULL THEN NULL
        WHEN s.final_status IN ('draft', 'open', 'void') AND s.paid_total > 0
            THEN format('a %%s invoice has no payments, but these come to %%s', s.final_status,
                        bizctx_import.money_text(s.paid_total, s.currency_code))
        WHEN s.final_status = 'partial' AND NOT (s.paid_total > 0 AND s.paid_total < s.items_total)
            THEN format('partial needs payments above 0 and below the total of %%s; they come to %%s',
                        bizctx_import.money_text(s.items_total, s.currency_code),
                        bizctx_import.money_text(s.paid_total, s.currency_code))
        WHEN s.final_status = 'paid' AND s.paid_total <> s.items_total
            THEN format('paid needs payments that come to the total of %%s; they come to %%s',
                        bizctx_import.money_text(s.items_total, s.currency_code),
                        bizctx_import.money_text(s.paid_total, s.currency_code)) END),
    ('issue_date', CASE
        WHEN s.issue_date IS NULL
            THEN CASE WHEN coalesce(s.final_status, 'open') <> 'draft' THEN 'is required unless the invoice is a draft (YYYY-MM-DD)' END
        WHEN s.issue_d IS NULL THEN format('%%s is not a date (YYYY-MM-DD)', s.issue_date) END),
    ('due_date', CASE
        WHEN s.due_date IS NULL
            THEN CASE WHEN coalesce(s.final_status, 'open') <> 'draft' THEN 'is required unless the invoice is a draft (YYYY-MM-DD)' END
        WHEN s.due_d IS NULL THEN format('%%s is not a date (YYYY-MM-DD)', s.due_date)
        WHEN s.due_d < s.issue_d THEN 'must not be before issue_date' END),
    ('currency', CASE
        WHEN s.currency IS NULL THEN 'is required (ISO 4217, e.g. EUR)'
        WHEN s.currency_code !~ '^[A-Z]{3}$' THEN format('%%s is not an ISO 4217 currency code like EUR', s.currency)
        WHEN s.current_currency IS NOT NULL AND s.current_currency <> s.currency_code
             AND (s.items IS NULL OR s.current_paid > 0 OR s.current_status NOT IN ('draft', 'open'))
            THEN format('the currency of a %%s invoice cannot change (it is %%s)', s.current_status,
                        s.current_currency) END),
    ('total', CASE
        WHEN s.total IS NULL THEN NULL
        WHEN NOT bizctx_import.is_decimal(btrim(s.total), 14, 4)
            THEN format('%%s is not an amount (digits, a point; no currency sign)', s.total)
        WHEN s.items_total IS NOT NULL AND btrim(s.total)::numeric <> s.items_total
            THEN format('%%s does not add up: the items come to %%s', btrim(s.total),
                        bizctx_import.money_text(s.items_total, s.currency_code)) END),
    ('items', CASE
        WHEN s.items IS NULL THEN NULL
        WHEN s.items_json IS NULL OR jsonb_typeof(s.items_json) <> 'array'
            THEN 'must be a JSON array of item objects, e.g. [{"description": "Deep clean", "quantity": "1", '
                 '"unit_price": "120.00"}]'
        WHEN ip.msg IS NOT NULL THEN ip.msg
        WHEN s.items_changed AND s.current_status IS NOT NULL
             AND NOT (s.current_status = 'draft' OR (s.current_status = 'open' AND s.current_paid = 0))
            THEN format('the items of %%s invoice %%s cannot change', s.current_status,
                        coalesce(s.current_number, '(draft)')) END),
    ('payments', CASE
        WHEN s.payments IS NULL THEN NULL
        WHEN s.payments_json IS NULL OR jsonb_typeof(s.payments_json) <> 'array'
            THEN 'must be a JSON array of payment objects, e.g. [{"amount": "50.00", "method": "card", '
                 '"paid_at": "2025-03-01T09:00:00+01:00"}]'
        WHEN pp.msg IS NOT NULL THEN pp.msg
        WHEN pd.msg IS NOT NULL THEN format('recorded payments cannot be removed by an import: %%s', pd.msg)
        WHEN s.paid_total > s.items_total
            THEN format('payments come to %%s, more than the total of %%s',
                        bizctx_import.money_text(s.paid_total, s.currency_code),
                        bizctx_import.money_text(s.items_total, s.currency_code)) END)
) AS v(col, msg)
WHERE v.msg IS NOT NULL
ORDER BY s.line, v.col

-- Inserts new invoices and updates changed ones from the staged rows. New invoices start as
-- draft or open (items, payments and a final void or paid follow in later statements); an
-- explicit invoice number of the tenant's form (prefix + digits) keeps its number, others get
-- the next one. Plain INSERT and UPDATE, not ON CONFLICT: the numbering trigger would hand a
-- number to every proposed row. Returns how many were inserted and updated.
-- Index: invoices primary key (tenant_id, id).
WITH staged AS (
    SELECT s.*, t.invoice_prefix,
           CASE WHEN left(btrim(s.invoice_number), length(t.invoice_prefix)) = t.invoice_prefix
                     AND substr(btrim(s.invoice_number), length(t.invoice_prefix) + 1) ~ '^\d{1,15}$'
                THEN substr(btrim(s.invoice_number), length(t.invoice_prefix) + 1)::bigint END AS number
    FROM bizctx_import.invoices s
    JOIN tenants t ON t.id = %(tenant_id)s
),
inserted AS (
    INSERT INTO invoices (tenant_id, id, external_ref, number, invoice_number, client_id, status, issue_date, due_date,
                          currency, notes, void_reason)
    SELECT %(tenant_id)s, s.id, btrim(s.external_ref), s.number, btrim(s.invoice_number), s.client_id,
           CASE WHEN s.final_status = 'draft' THEN 'draft' ELSE 'open' END, btrim(s.issue_date)::date,
           btrim(s.due_date)::date, upper(btrim(s.currency)), s.notes, s.void_reason
    FROM staged s
    WHERE s.target_id IS NULL
    ORDER BY s.line
    RETURNING 1
),
updated AS (
    UPDATE invoices i
    SET external_ref = coalesce(btrim(s.external_ref), i.external_ref),
        number = coalesce(i.number, s.number),
        invoice_number = coalesce(i.invoice_number, btrim(s.invoice_number)),
        client_id = s.client_id,
        status = CASE WHEN i.status = 'draft' AND s.final_status <> 'draft' THEN 'open' ELSE i.status END,
        issue_date = btrim(s.issue_date)::date, due_date = btrim(s.due_date)::date,
        currency = upper(btrim(s.currency)), notes = s.notes, void_reason = s.void_reason
    FROM staged s
    WHERE i.tenant_id = %(tenant_id)s AND i.id = s.target_id
      AND (i.external_ref, i.number, i.invoice_number, i.client_id, i.status, i.issue_date, i.due_date, i.currency,
           i.notes, i.void_reason)
          IS DISTINCT FROM
          (coalesce(btrim(s.external_ref), i.external_ref), coalesce(i.number, s.number),
           coalesce(i.invoice_number, btrim(s.invoice_number)), s.client_id,
           CASE WHEN i.status = 'draft' AND s.final_status <> 'draft' THEN 'open' ELSE i.status END,
           btrim(s.issue_date)::date, btrim(s.due_date)::date, upper(btrim(s.currency)), s.notes, s.void_reason)
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS inserted, (SELECT count(*) FROM updated) AS updated

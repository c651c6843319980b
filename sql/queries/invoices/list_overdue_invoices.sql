-- One keyset page of overdue invoices (open or partly paid, due before today in the business time
-- zone), in list_invoices' order and keyset: newest issue date first, then id; filters: client,
-- status. Index: invoices_owed_issue_date_idx (migration 0181): its predicate is written out here,
-- not left to bizctx_is_overdue's parameters, so every plan (a generic one too) walks the owed
-- invoices only, never the paid history. `today` is a sub-select, computed once: as a plain call it
-- ran bizctx_today()'s lookup for every owed invoice the page skipped (those not due yet).
SELECT i.id, i.invoice_number, i.status, i.issue_date, i.due_date, i.currency,
       i.total, i.amount_paid, i.credited, i.balance_due,
       bizctx_is_overdue(i.status, i.due_date, d.today) AS overdue,
       bizctx_days_overdue(i.status, i.due_date, d.today) AS days_overdue,
       i.created_at,
       c.id AS client_id, c.display_name AS client_name, c.email AS client_email,
       coalesce(c.phone, c.mobile_phone) AS client_phone
FROM invoices i
CROSS JOIN (SELECT (SELECT bizctx_today()) AS today) d
JOIN clients c ON c.tenant_id = i.tenant_id AND c.id = i.client_id
WHERE i.tenant_id = bizctx_tenant()
  AND i.status IN ('open', 'partial') AND i.due_date < d.today
  AND (%(client_id)s::uuid IS NULL OR i.client_id = %(client_id)s::uuid)
  AND (%(status)s::text IS NULL OR i.status = %(status)s::text)
  AND (%(after_id)s::uuid IS NULL
       OR (%(after_issue_date)s::date IS NULL
           AND (i.issue_date IS NOT NULL OR i.id > %(after_id)s::uuid))
       OR (%(after_issue_date)s::date IS NOT NULL AND i.issue_date IS NOT NULL
           AND (i.issue_date < %(after_issue_date)s::date
                OR (i.issue_date = %(after_issue_date)s::date AND i.id > %(after_id)s::uuid))))
ORDER BY i.issue_date DESC NULLS FIRST, i.id
LIMIT %(limit)s

-- Numbers of invoices still owed (open or partly paid) starting with what was typed.
SELECT invoice_number AS value
FROM invoices
WHERE tenant_id = bizctx_tenant() AND status IN ('open', 'partial') AND invoice_number IS NOT NULL
  AND starts_with(lower(invoice_number), lower(%(prefix)s))
ORDER BY invoice_number
LIMIT 101

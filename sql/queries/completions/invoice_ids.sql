-- Invoice ids for an `{invoice_id}` completion: invoices whose number, or id, starts with
-- what was typed; newest first.
SELECT id::text AS value
FROM invoices
WHERE tenant_id = bizctx_tenant()
  AND (starts_with(lower(invoice_number), lower(%(prefix)s)) OR starts_with(id::text, lower(%(prefix)s)))
ORDER BY created_at DESC, id
LIMIT 101

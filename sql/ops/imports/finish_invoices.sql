-- Puts imported invoices in their final status where payments did not already: void (with
-- voided_at by trigger), or paid for an invoice whose total is zero. Index: invoices primary key.
UPDATE invoices i
SET status = s.final_status
FROM bizctx_import.invoices s
WHERE i.tenant_id = %(tenant_id)s AND i.id = s.id AND s.final_status IN ('void', 'paid')
  AND i.status <> s.final_status

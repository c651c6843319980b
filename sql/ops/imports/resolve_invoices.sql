-- Each staged invoice: its client, the invoice it updates (by external_ref; else by
-- invoice_number, when that invoice has no other external_ref) and the id it will have.
-- Index: clients / invoices (tenant_id, external_ref), invoices (tenant_id, invoice_number).
UPDATE bizctx_import.invoices s
SET (client_id, target_id, id) = (
    SELECT m.client_id, m.target_id, coalesce(m.target_id, gen_random_uuid())
    FROM (SELECT coalesce((SELECT c.id FROM clients c
                           WHERE c.tenant_id = %(tenant_id)s AND c.external_ref = btrim(s.client_ref)),
                          (SELECT c.id FROM clients c
                           WHERE c.tenant_id = %(tenant_id)s AND c.id = bizctx_import.ref_id(s.client_ref)))
                     AS client_id,
                 coalesce((SELECT i.id FROM invoices i
                           WHERE i.tenant_id = %(tenant_id)s AND i.external_ref = btrim(s.external_ref)),
                          (SELECT i.id FROM invoices i
                           WHERE i.tenant_id = %(tenant_id)s AND i.invoice_number = btrim(s.invoice_number)
                             AND (i.external_ref IS NULL OR s.external_ref IS NULL))) AS target_id) m)

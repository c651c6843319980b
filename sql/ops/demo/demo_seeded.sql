-- Whether the demo business is complete: its invoices are imported last, in one
-- transaction, so one of them means everything before them is there too.
-- Index: invoices (tenant_id, external_ref).
SELECT EXISTS (SELECT 1 FROM invoices WHERE tenant_id = %(tenant_id)s AND external_ref = %(external_ref)s) AS seeded

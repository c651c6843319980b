-- Whether the demo business already has its data (the seed is all-or-nothing, in one transaction).
-- Index: clients (tenant_id, external_ref).
SELECT EXISTS (SELECT 1 FROM clients WHERE tenant_id = %(tenant_id)s AND external_ref = 'demo-client-0001') AS seeded

-- The live client holding an e-mail address, for a duplicate-email conflict.
-- Index: clients_email_key.
SELECT id FROM clients
WHERE tenant_id = bizctx_tenant() AND lower(email) = lower(%(email)s) AND deleted_at IS NULL

-- Whether a live client exists (and lock it against a concurrent delete). Index: clients primary key.
SELECT id FROM clients
WHERE tenant_id = bizctx_tenant() AND id = %(client_id)s AND deleted_at IS NULL
FOR KEY SHARE

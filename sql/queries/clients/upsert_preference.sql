-- Sets one preference of a client. Index: client_preferences (tenant_id, client_id, key).
INSERT INTO client_preferences (tenant_id, client_id, key, value)
VALUES (bizctx_tenant(), %(client_id)s, %(key)s, %(value)s)
ON CONFLICT (tenant_id, client_id, key) DO UPDATE SET value = EXCLUDED.value

-- Removes one preference of a client. Index: client_preferences (tenant_id, client_id, key).
DELETE FROM client_preferences
WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND key = %(key)s

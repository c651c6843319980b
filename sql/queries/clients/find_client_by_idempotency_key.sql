-- The client an earlier call with this idempotency key created. Index: clients_idempotency_key_key.
SELECT id FROM clients WHERE tenant_id = bizctx_tenant() AND idempotency_key = %(idempotency_key)s

-- Client writes take an idempotency_key like every other write: a retried upsert_client
-- or log_interaction returns the first result and writes nothing new.

ALTER TABLE clients ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200);
ALTER TABLE clients ADD CONSTRAINT clients_idempotency_key_key UNIQUE (tenant_id, idempotency_key);

ALTER TABLE client_interactions ADD COLUMN idempotency_key text
    CHECK (length(idempotency_key) BETWEEN 1 AND 200);
ALTER TABLE client_interactions ADD CONSTRAINT client_interactions_idempotency_key_key
    UNIQUE (tenant_id, idempotency_key);

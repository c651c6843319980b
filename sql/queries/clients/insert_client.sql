-- A new client; ON CONFLICT on the idempotency key returns nothing (the caller reads the first).
-- Index: clients_idempotency_key_key.
INSERT INTO clients (tenant_id, client_type, first_name, last_name, company_name, email, phone, mobile_phone,
                     date_of_birth, notes, time_zone, status, lifecycle_stage, tags, external_ref, idempotency_key)
VALUES (bizctx_tenant(), %(client_type)s, %(first_name)s, %(last_name)s, %(company_name)s, %(email)s, %(phone)s,
        %(mobile_phone)s, %(date_of_birth)s, %(notes)s, %(time_zone)s, %(status)s, %(lifecycle_stage)s,
        %(tags)s, %(external_ref)s, %(idempotency_key)s)
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id

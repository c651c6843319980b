-- A new client of the caller's tenant; its id. Unique violations: clients_email_key,
-- clients_external_ref_key.
INSERT INTO clients (tenant_id, client_type, first_name, last_name, company_name, email, phone, mobile_phone,
                     date_of_birth, notes, time_zone, status, lifecycle_stage, tags, external_ref)
VALUES (bizctx_tenant(), %(client_type)s, %(first_name)s, %(last_name)s, %(company_name)s, %(email)s, %(phone)s,
        %(mobile_phone)s, %(date_of_birth)s, %(notes)s, %(time_zone)s, %(status)s, %(lifecycle_stage)s,
        %(tags)s, %(external_ref)s)
RETURNING id

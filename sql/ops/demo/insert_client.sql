-- One demo client; returns its id.
-- Index: clients (tenant_id, external_ref).
INSERT INTO clients (tenant_id, client_type, first_name, last_name, company_name, email, phone, mobile_phone,
                     date_of_birth, notes, status, lifecycle_stage, tags, external_ref)
VALUES (%(tenant_id)s, %(client_type)s, %(first_name)s, %(last_name)s, %(company_name)s, %(email)s, %(phone)s,
        %(mobile_phone)s, %(date_of_birth)s, %(notes)s, %(status)s, %(lifecycle_stage)s, %(tags)s, %(external_ref)s)
RETURNING id

-- Updates the fields named in %(fields)s (others keep their value) of one live client.
-- Index: clients primary key.
UPDATE clients SET
    client_type     = CASE WHEN 'client_type' = ANY(%(fields)s) THEN %(client_type)s ELSE client_type END,
    first_name      = CASE WHEN 'first_name' = ANY(%(fields)s) THEN %(first_name)s ELSE first_name END,
    last_name       = CASE WHEN 'last_name' = ANY(%(fields)s) THEN %(last_name)s ELSE last_name END,
    company_name    = CASE WHEN 'company_name' = ANY(%(fields)s) THEN %(company_name)s ELSE company_name END,
    email           = CASE WHEN 'email' = ANY(%(fields)s) THEN %(email)s ELSE email END,
    phone           = CASE WHEN 'phone' = ANY(%(fields)s) THEN %(phone)s ELSE phone END,
    mobile_phone    = CASE WHEN 'mobile_phone' = ANY(%(fields)s) THEN %(mobile_phone)s ELSE mobile_phone END,
    date_of_birth   = CASE WHEN 'date_of_birth' = ANY(%(fields)s) THEN %(date_of_birth)s ELSE date_of_birth END,
    notes           = CASE WHEN 'notes' = ANY(%(fields)s) THEN %(notes)s ELSE notes END,
    time_zone       = CASE WHEN 'time_zone' = ANY(%(fields)s) THEN %(time_zone)s ELSE time_zone END,
    status          = CASE WHEN 'status' = ANY(%(fields)s) THEN %(status)s ELSE status END,
    lifecycle_stage = CASE WHEN 'lifecycle_stage' = ANY(%(fields)s) THEN %(lifecycle_stage)s ELSE lifecycle_stage END,
    tags            = CASE WHEN 'tags' = ANY(%(fields)s) THEN %(tags)s ELSE tags END,
    external_ref    = CASE WHEN 'external_ref' = ANY(%(fields)s) THEN %(external_ref)s ELSE external_ref END
WHERE tenant_id = bizctx_tenant() AND id = %(client_id)s AND deleted_at IS NULL
RETURNING id

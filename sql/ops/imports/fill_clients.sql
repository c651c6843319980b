-- For staged clients that update an existing client: the columns the file does not have
-- take the client's current values, so a file with fewer columns changes only those.
-- Index: clients primary key (tenant_id, id).
UPDATE bizctx_import.clients s
SET external_ref    = CASE WHEN 'external_ref' = ANY(%(columns)s::text[]) THEN s.external_ref ELSE c.external_ref END,
    client_type     = CASE WHEN 'client_type' = ANY(%(columns)s::text[]) THEN s.client_type ELSE c.client_type END,
    first_name      = CASE WHEN 'first_name' = ANY(%(columns)s::text[]) THEN s.first_name ELSE c.first_name END,
    last_name       = CASE WHEN 'last_name' = ANY(%(columns)s::text[]) THEN s.last_name ELSE c.last_name END,
    company_name    = CASE WHEN 'company_name' = ANY(%(columns)s::text[]) THEN s.company_name ELSE c.company_name END,
    email           = CASE WHEN 'email' = ANY(%(columns)s::text[]) THEN s.email ELSE c.email END,
    phone           = CASE WHEN 'phone' = ANY(%(columns)s::text[]) THEN s.phone ELSE c.phone END,
    mobile_phone    = CASE WHEN 'mobile_phone' = ANY(%(columns)s::text[]) THEN s.mobile_phone ELSE c.mobile_phone END,
    date_of_birth   = CASE WHEN 'date_of_birth' = ANY(%(columns)s::text[]) THEN s.date_of_birth
                           ELSE to_char(c.date_of_birth, 'YYYY-MM-DD') END,
    time_zone       = CASE WHEN 'time_zone' = ANY(%(columns)s::text[]) THEN s.time_zone ELSE c.time_zone END,
    status          = CASE WHEN 'status' = ANY(%(columns)s::text[]) THEN s.status ELSE c.status END,
    lifecycle_stage = CASE WHEN 'lifecycle_stage' = ANY(%(columns)s::text[]) THEN s.lifecycle_stage
                           ELSE c.lifecycle_stage END,
    tags            = CASE WHEN 'tags' = ANY(%(columns)s::text[]) THEN s.tags ELSE to_jsonb(c.tags)::text END,
    notes           = CASE WHEN 'notes' = ANY(%(columns)s::text[]) THEN s.notes ELSE c.notes END
FROM clients c
WHERE c.tenant_id = %(tenant_id)s AND c.id = s.target_id

-- For staged resources that update an existing one: columns the file does not have take the
-- resource's current values. Index: resources primary key (tenant_id, id).
UPDATE bizctx_import.resources s
SET external_ref = CASE WHEN 'external_ref' = ANY(%(columns)s::text[]) THEN s.external_ref ELSE r.external_ref END,
    kind = CASE WHEN 'kind' = ANY(%(columns)s::text[]) THEN s.kind ELSE r.kind END,
    name = CASE WHEN 'name' = ANY(%(columns)s::text[]) THEN s.name ELSE r.name END,
    email = CASE WHEN 'email' = ANY(%(columns)s::text[]) THEN s.email ELSE r.email END,
    time_zone = CASE WHEN 'time_zone' = ANY(%(columns)s::text[]) THEN s.time_zone ELSE r.time_zone END,
    capabilities = CASE WHEN 'capabilities' = ANY(%(columns)s::text[]) THEN s.capabilities
                        ELSE to_jsonb(r.capabilities)::text END,
    active = CASE WHEN 'active' = ANY(%(columns)s::text[]) THEN s.active ELSE r.active::text END
FROM resources r
WHERE r.tenant_id = %(tenant_id)s AND r.id = s.target_id

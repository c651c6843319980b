-- The tenant's resources in import form: one JSON object per resource.
-- Index: resources (tenant_id, external_ref) unique.
SELECT json_build_object(
    'external_ref', r.external_ref,
    'kind', r.kind,
    'name', r.name,
    'email', r.email,
    'time_zone', r.time_zone,
    'capabilities', to_json(r.capabilities),
    'active', r.active
) AS record
FROM resources r
WHERE r.tenant_id = %(tenant_id)s
ORDER BY r.external_ref NULLS LAST, r.kind, r.name, r.id

-- The tenant's live clients in import form: one JSON object per client (segments,
-- addresses, preferences and opt-outs inline), in a stable order.
-- Index: clients (tenant_id, external_ref).
SELECT json_build_object(
    'external_ref', c.external_ref,
    'client_type', c.client_type,
    'first_name', c.first_name,
    'last_name', c.last_name,
    'company_name', c.company_name,
    'email', c.email,
    'phone', c.phone,
    'mobile_phone', c.mobile_phone,
    'date_of_birth', to_char(c.date_of_birth, 'YYYY-MM-DD'),
    'time_zone', c.time_zone,
    'status', c.status,
    'lifecycle_stage', c.lifecycle_stage,
    'tags', to_json(c.tags),
    'segments', coalesce((
        SELECT json_agg(g.name ORDER BY g.name)
        FROM client_segment_memberships m
        JOIN client_segments g ON g.tenant_id = m.tenant_id AND g.id = m.segment_id
        WHERE m.tenant_id = c.tenant_id AND m.client_id = c.id), '[]'::json),
    'notes', c.notes,
    'addresses', coalesce((
        SELECT json_agg(json_strip_nulls(json_build_object(
                   'kind', a.kind, 'label', a.label, 'line1', a.line1, 'line2', a.line2, 'city', a.city,
                   'region', a.region, 'postal_code', a.postal_code, 'country', a.country,
                   'access_notes', a.access_notes, 'is_primary', a.is_primary))
               ORDER BY a.kind, a.is_primary DESC, a.line1, a.line2, a.city, a.postal_code, a.label, a.id)
        FROM client_addresses a
        WHERE a.tenant_id = c.tenant_id AND a.client_id = c.id), '[]'::json),
    'preferences', coalesce((
        SELECT json_object_agg(p.key, p.value ORDER BY p.key)
        FROM client_preferences p
        WHERE p.tenant_id = c.tenant_id AND p.client_id = c.id), '{}'::json),
    'opt_outs', coalesce((
        SELECT json_agg(json_strip_nulls(json_build_object('channel', o.channel, 'reason', o.reason))
                        ORDER BY o.channel)
        FROM opt_outs o
        WHERE o.tenant_id = c.tenant_id AND o.client_id = c.id), '[]'::json)
) AS record
FROM clients c
WHERE c.tenant_id = %(tenant_id)s AND c.deleted_at IS NULL
ORDER BY c.external_ref NULLS LAST, c.email NULLS LAST, c.display_name, c.id

-- One live client with addresses, preferences, segments and opt-outs as JSON arrays; none
-- raises BZ404 (bizctx_found, migration 0190): get_client's audit row and COMMIT ride with
-- this statement, and a client not found must not commit a row that says `ok`.
-- Index: clients primary key; the child tables by (tenant_id, client_id).
SELECT c.id, c.display_name, c.client_type, c.first_name, c.last_name, c.company_name, c.email, c.phone,
       c.mobile_phone, c.date_of_birth, c.notes, c.time_zone, c.status, c.lifecycle_stage, c.tags,
       c.external_ref, c.created_at, c.updated_at,
       coalesce((SELECT jsonb_agg(to_jsonb(a) - 'tenant_id' - 'client_id' - 'created_at' - 'updated_at'
                                  ORDER BY a.is_primary DESC, a.kind, a.created_at)
                 FROM client_addresses a WHERE a.tenant_id = c.tenant_id AND a.client_id = c.id), '[]') AS addresses,
       coalesce((SELECT jsonb_object_agg(p.key, p.value)
                 FROM client_preferences p WHERE p.tenant_id = c.tenant_id AND p.client_id = c.id), '{}') AS preferences,
       coalesce((SELECT jsonb_agg(s.name ORDER BY s.name)
                 FROM client_segment_memberships m
                 JOIN client_segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id
                 WHERE m.tenant_id = c.tenant_id AND m.client_id = c.id), '[]') AS segments,
       coalesce((SELECT jsonb_agg(jsonb_build_object('channel', o.channel, 'reason', o.reason,
                                                     'created_at', o.created_at, 'until', o.until)
                                  ORDER BY o.channel)
                 FROM opt_outs o WHERE o.tenant_id = c.tenant_id AND o.client_id = c.id
                                   AND (o.until IS NULL OR o.until > now())), '[]') AS opt_outs
FROM (VALUES (true)) AS asked (x)
LEFT JOIN clients c ON c.tenant_id = bizctx_tenant() AND c.id = %(client_id)s AND c.deleted_at IS NULL
WHERE bizctx_found(c.id IS NOT NULL)

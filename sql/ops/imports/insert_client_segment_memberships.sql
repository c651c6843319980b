-- Puts imported clients in the segments their row lists; memberships they already have
-- are not touched (added_at stays). Index: client_segment_memberships primary key.
INSERT INTO client_segment_memberships (tenant_id, segment_id, client_id)
SELECT DISTINCT %(tenant_id)s, g.id, r.client_id
FROM bizctx_import.client_segment_rows r
JOIN client_segments g ON g.tenant_id = %(tenant_id)s AND lower(g.name) = lower(r.name)
ON CONFLICT (tenant_id, segment_id, client_id) DO NOTHING

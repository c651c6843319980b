-- Takes imported clients out of the segments their row's segments no longer lists (only
-- for rows with a segments value). Index: client_segment_memberships_client_idx.
DELETE FROM client_segment_memberships m
USING bizctx_import.clients s, client_segments g
WHERE m.tenant_id = %(tenant_id)s AND m.client_id = s.id AND s.segments IS NOT NULL
  AND g.tenant_id = m.tenant_id AND g.id = m.segment_id
  AND NOT EXISTS (SELECT 1 FROM bizctx_import.client_segment_rows r
                  WHERE r.client_id = m.client_id AND lower(r.name) = lower(g.name))

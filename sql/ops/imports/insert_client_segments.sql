-- Creates the segments that imported clients name and the business does not have yet
-- (names match case-insensitively, as search_clients does).
-- Index: client_segments (tenant_id, name) unique, the conflict target.
INSERT INTO client_segments (tenant_id, name)
SELECT DISTINCT ON (lower(r.name)) %(tenant_id)s, r.name
FROM bizctx_import.client_segment_rows r
WHERE NOT EXISTS (SELECT 1 FROM client_segments g
                  WHERE g.tenant_id = %(tenant_id)s AND lower(g.name) = lower(r.name))
ORDER BY lower(r.name), r.line, r.n
ON CONFLICT (tenant_id, name) DO NOTHING

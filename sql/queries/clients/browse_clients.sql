-- Live clients without a query, by id, one keyset page, filtered by status, tag or segment:
-- search_clients without a query (every client scores 1.0, so the keyset is the id alone).
-- With a query, search_clients.sql. Index: the primary key (tenant_id, id).
SELECT c.id, c.display_name, c.client_type, c.company_name, c.email,
       coalesce(c.phone, c.mobile_phone) AS phone, c.status, c.lifecycle_stage, c.tags,
       1.0::float8 AS score
FROM clients c
WHERE c.tenant_id = bizctx_tenant()
  AND c.deleted_at IS NULL
  AND (%(status)s::text IS NULL OR c.status = %(status)s)
  AND (%(tag)s::text IS NULL OR c.tags @> ARRAY[%(tag)s::text])
  AND (%(segment)s::text IS NULL OR EXISTS (
          SELECT 1 FROM client_segment_memberships m
          JOIN client_segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id
          WHERE m.tenant_id = c.tenant_id AND m.client_id = c.id AND lower(s.name) = lower(%(segment)s)))
  AND (%(after_id)s::uuid IS NULL OR c.id > %(after_id)s::uuid)
ORDER BY c.id
LIMIT %(limit)s

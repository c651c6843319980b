-- Which of these memory documents the listening agent can see (row-level security applies its
-- mem_docs scope).
SELECT id
  FROM mem_docs
 WHERE tenant_id = bizctx_tenant() AND id = ANY(%(ids)s::uuid[])

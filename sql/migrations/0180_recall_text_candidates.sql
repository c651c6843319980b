-- recall's full-text retriever finds its matches through the GIN index on mem_docs.search, in
-- a function that applies the tenant and the caller's mem_docs scope itself.
--
-- Why: under row-level security PostgreSQL evaluates a policy's qual before any operator that
-- is not LEAKPROOF, so it may not use an index for one; the full-text match (tsvector @@
-- tsquery, ts_match_vq) is not, so recall matched the query against every document of the
-- tenant: its cost grew with the tenant's documents (measured with bench/growth_bench.py, see
-- the README), not with the matches. Marking ts_match_vq LEAKPROOF would need a superuser and
-- vouch for C code we do not own. The same way as search_clients (migration 0165):
--
-- bizctx_mem_doc_text_hits runs as bizctx_recall, a NOLOGIN role that may read only the
-- columns the text retriever filters and ranks on (never content or title as such: the
-- generated `search` vector only), with a policy that is simply true for it: no security qual,
-- so the planner may use the GIN index. The function is that role's only way in, and it
-- filters on the tenant the call set (bizctx_tenant(), never a parameter) and on the caller's
-- mem_docs scope (bizctx_mem_doc_in_scope: the very test of the restrictive policy
-- mem_doc_scope), so its top list is the one the caller's own query would rank. It returns ids
-- and ranks alone; recall.sql then reads those documents as bizctx_app, under its own row
-- policies, so row-level security stays the floor. tests/test_rls.py checks the filters.
--
-- Its cost grows with the documents that hold every query word (websearch_to_tsquery ANDs
-- them), which the index finds, and no longer with the documents that do not.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bizctx_recall') THEN
        CREATE ROLE bizctx_recall NOLOGIN NOINHERIT;
    END IF;
    EXECUTE format('GRANT bizctx_recall TO %I', current_user);
END
$$;
GRANT USAGE, CREATE ON SCHEMA public TO bizctx_recall;
GRANT SELECT (tenant_id, id, owner_agent_id, visibility, doc_type, search, client_id, task_id, metadata,
              expires_at)
    ON mem_docs TO bizctx_recall;
CREATE POLICY recall_candidates ON mem_docs FOR SELECT TO bizctx_recall USING (true);

CREATE FUNCTION bizctx_mem_doc_text_hits(
    query_text text, want_doc_type text, want_client_id uuid, want_task_id uuid, want_metadata jsonb,
    max_hits integer
) RETURNS TABLE (id uuid, relevance real)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT m.id, ts_rank_cd(m.search, websearch_to_tsquery('english', query_text)) AS relevance
    FROM mem_docs m
    WHERE query_text IS NOT NULL
      AND m.search @@ websearch_to_tsquery('english', query_text)
      AND m.tenant_id = bizctx_tenant()
      AND bizctx_mem_doc_in_scope(m.owner_agent_id, m.visibility)
      AND (m.expires_at IS NULL OR m.expires_at > now())
      AND (want_doc_type IS NULL OR m.doc_type = want_doc_type)
      AND (want_client_id IS NULL OR m.client_id = want_client_id)
      AND (want_task_id IS NULL OR m.task_id = want_task_id)
      AND (want_metadata IS NULL OR m.metadata @> want_metadata)
    ORDER BY relevance DESC, m.id
    LIMIT max_hits
$$;
ALTER FUNCTION bizctx_mem_doc_text_hits(text, text, uuid, uuid, jsonb, integer) OWNER TO bizctx_recall;
REVOKE ALL ON FUNCTION bizctx_mem_doc_text_hits(text, text, uuid, uuid, jsonb, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bizctx_mem_doc_text_hits(text, text, uuid, uuid, jsonb, integer) TO bizctx_app;

-- The k memory documents that best match a query (vector + full text, fused by RRF); touches last_accessed.
-- Index: mem_docs_embedding_idx (hnsw, iterative scan per recall_search_settings), mem_docs_search_idx (gin,
-- through bizctx_mem_doc_text_hits: under row-level security no index serves the @@ match itself).
--
-- Both retrievers apply every filter (expiry, doc_type, client, task, metadata @>, and the caller's
-- scope as a row policy) inside their scans, never after a top-k cut: nearest same-model vectors by
-- cosine distance, and full-text matches of websearch_to_tsquery (all words, AND; OR-ed words cost
-- quality when fused). Reciprocal rank fusion: score = sum over retrievers of 1 / (rrf_k + rank).
WITH vector_hits AS MATERIALIZED (
    SELECT id, embedding <=> %(query_vector)s::float8[]::vector AS distance
    FROM mem_docs
    WHERE %(query_vector)s::float8[] IS NOT NULL
      AND tenant_id = bizctx_tenant()
      AND embedding IS NOT NULL AND embedding_model = %(embedding_model)s::text
      AND (expires_at IS NULL OR expires_at > now())
      AND (%(doc_type)s::text IS NULL OR doc_type = %(doc_type)s::text)
      AND (%(client_id)s::uuid IS NULL OR client_id = %(client_id)s::uuid)
      AND (%(task_id)s::uuid IS NULL OR task_id = %(task_id)s::uuid)
      AND (%(metadata)s::jsonb IS NULL OR metadata @> %(metadata)s::jsonb)
    ORDER BY distance
    LIMIT %(candidates)s
),
text_hits AS MATERIALIZED (
    -- The matches come from bizctx_mem_doc_text_hits (migration 0180: the GIN index, with the
    -- tenant and the caller's scope applied by the function) and are read again here under the
    -- row policies.
    SELECT h.id, h.relevance
    FROM bizctx_mem_doc_text_hits(%(query_text)s::text, %(doc_type)s::text, %(client_id)s::uuid,
                                  %(task_id)s::uuid, %(metadata)s::jsonb, %(candidates)s::integer) AS h
    JOIN mem_docs m ON m.tenant_id = bizctx_tenant() AND m.id = h.id
    ORDER BY h.relevance DESC, h.id
    LIMIT %(candidates)s
),
fused AS (
    SELECT coalesce(v.id, t.id) AS id,
           (coalesce(1.0 / (%(rrf_k)s::integer + v.rank), 0)
            + coalesce(1.0 / (%(rrf_k)s::integer + t.rank), 0))::float8 AS score,
           v.distance,
           v.id IS NOT NULL AS by_vector,
           t.id IS NOT NULL AS by_text
    FROM (SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank FROM vector_hits) AS v
    FULL OUTER JOIN (SELECT id, row_number() OVER (ORDER BY relevance DESC, id) AS rank FROM text_hits) AS t
        ON t.id = v.id
    ORDER BY score DESC, v.distance NULLS LAST, id
    LIMIT %(k)s
),
-- Touching a row is a non-HOT update (the rows are ~2 kB, pages are full) that re-inserts it into
-- every index, HNSW included: so a row already touched within touch_resolution is left alone.
touched AS (
    UPDATE mem_docs AS m SET last_accessed = now()
    FROM fused AS f
    WHERE m.tenant_id = bizctx_tenant() AND m.id = f.id
      AND (m.last_accessed IS NULL OR m.last_accessed < now() - %(touch_resolution)s::interval)
    RETURNING m.id, m.last_accessed
)
SELECT m.id, m.owner_agent_id, m.owner_agent_id = bizctx_agent() AS owned_by_me, m.visibility, m.doc_type,
       m.title, left(m.content, %(max_chars)s::integer) AS content,
       length(m.content) > %(max_chars)s::integer AS content_truncated, m.metadata,
       CASE WHEN m.embedding IS NOT NULL THEN m.embedding_model END AS embedding_model, m.client_id, m.task_id,
       coalesce(t.last_accessed, m.last_accessed) AS last_accessed, m.expires_at, m.created_at, m.updated_at,
       f.score, 1 - f.distance AS similarity,
       array_remove(ARRAY[CASE WHEN f.by_vector THEN 'vector' END, CASE WHEN f.by_text THEN 'text' END], NULL)
           AS found_by
FROM fused AS f
JOIN mem_docs AS m ON m.tenant_id = bizctx_tenant() AND m.id = f.id
LEFT JOIN touched AS t ON t.id = f.id
ORDER BY f.score DESC, f.distance NULLS LAST, f.id

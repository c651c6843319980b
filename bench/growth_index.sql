-- The growth benchmark's last loading step: the HNSW index bench/growth_data.sql dropped
-- (building it once is several times faster than inserting every row into it), as migration
-- 0006 declares it, then fresh statistics and visibility maps for the planner.
CREATE INDEX IF NOT EXISTS mem_docs_embedding_idx ON mem_docs USING hnsw (embedding vector_cosine_ops);

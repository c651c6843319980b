-- Recall's HNSW settings for this transaction only: iterative scan (pgvector >= 0.8), so the
-- filters applied during the scan still leave enough rows, and the candidate list size. Index: none.
SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true) AS iterative_scan,
       set_config('hnsw.ef_search', %(ef_search)s::integer::text, true) AS ef_search

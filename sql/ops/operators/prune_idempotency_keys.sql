-- Deletes every expired idempotency key (and the result it keeps), in every tenant; how many.
-- Index: idempotency_keys_created_idx.
WITH gone AS (
    DELETE FROM idempotency_keys WHERE created_at <= now() - make_interval(days => %(keep_days)s::integer)
    RETURNING 1
)
SELECT count(*) AS deleted FROM gone

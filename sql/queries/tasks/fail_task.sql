-- Fails a task the caller holds under a running lease: retryable -> failed, due again after
-- the given delay or backoff min(cap, base x 2^(attempts-1)) seconds (the trigger makes it dead
-- at max_attempts); not retryable -> dead. Nothing otherwise. Index: tasks primary key.
UPDATE task_rows
SET status = CASE WHEN %(retryable)s::boolean THEN 'failed' ELSE 'dead' END,
    last_error = %(error)s::text,
    run_after = CASE WHEN %(retryable)s::boolean
                     THEN statement_timestamp() + make_interval(secs => coalesce(
                              %(retry_after_seconds)s::integer,
                              least(%(backoff_cap_seconds)s::integer,
                                    %(backoff_base_seconds)s::integer * power(2, attempts - 1))))
                     ELSE run_after END
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'claimed'
  AND claimed_by_agent_id = bizctx_agent() AND lease_expires_at > statement_timestamp()
RETURNING *

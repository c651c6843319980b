-- Claims the caller's next task in one statement: the best ready task (pending, or failed and
-- due for its retry) and the best task whose lease expired, unassigned or assigned to the caller
-- (its scope applies as a row policy), skipping rows other workers hold; the higher priority,
-- then longest waiting, of the two gets attempts + 1 and a lease. Index: tasks_queue_idx
-- (ordered scan, LIMIT 1) and tasks_lease_idx (expired leases).
WITH ready AS (
    SELECT tenant_id, id, priority, run_after, created_at
    FROM tasks
    WHERE tenant_id = bizctx_tenant()
      AND status IN ('pending', 'failed') AND run_after <= statement_timestamp()
      AND (assignee_agent_id IS NULL OR assignee_agent_id = bizctx_agent())
      AND (%(task_types)s::text[] IS NULL OR type = ANY (%(task_types)s::text[]))
    ORDER BY priority DESC, run_after, created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
),
expired AS (
    SELECT tenant_id, id, priority, run_after, created_at
    FROM tasks
    WHERE tenant_id = bizctx_tenant()
      AND status = 'claimed' AND lease_expires_at <= statement_timestamp() AND attempts < max_attempts
      AND (assignee_agent_id IS NULL OR assignee_agent_id = bizctx_agent())
      AND (%(task_types)s::text[] IS NULL OR type = ANY (%(task_types)s::text[]))
    ORDER BY priority DESC, run_after, created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
),
next AS (
    SELECT tenant_id, id FROM (SELECT * FROM ready UNION ALL SELECT * FROM expired) candidates
    ORDER BY priority DESC, run_after, created_at, id
    LIMIT 1
)
UPDATE task_rows t
SET status = 'claimed',
    attempts = t.attempts + 1,
    claimed_by_agent_id = bizctx_agent(),
    lease_expires_at = statement_timestamp() + make_interval(secs => %(lease_seconds)s::integer)
FROM next
WHERE t.tenant_id = next.tenant_id AND t.id = next.id
RETURNING t.*

-- Removes a tenant's policy by an operator: the calls it holds for approval are withdrawn (their
-- tasks cancelled, the withdrawal recorded), then the policy goes. The policy, if there was one.
WITH locked AS (
    -- The held calls' tasks first, in the order a decision locks them (task, then call).
    SELECT t.tenant_id, t.id
    FROM tasks t
    JOIN approval_calls c ON c.tenant_id = t.tenant_id AND c.task_id = t.id
    WHERE c.tenant_id = %(tenant_id)s::uuid AND c.policy_id = %(policy_id)s::uuid AND c.status = 'pending'
    FOR UPDATE OF t
),
withdrawn AS (
    UPDATE approval_calls
    SET status = 'withdrawn', reason = 'its policy was removed', decided_by_operator = %(removed_by)s::text,
        decided_at = now()
    WHERE (tenant_id, task_id) IN (SELECT tenant_id, id FROM locked) AND status = 'pending'
    RETURNING tenant_id, task_id, requested_by_agent_id
),
cancelled AS (
    UPDATE tasks t
    SET status = 'cancelled', result = '{"outcome": "withdrawn", "reason": "its policy was removed"}'::jsonb
    FROM withdrawn w
    WHERE t.tenant_id = w.tenant_id AND t.id = w.task_id AND t.status = 'awaiting_approval'
    RETURNING t.id
),
recorded AS (
    INSERT INTO approval_events (tenant_id, task_id, decision, requested_by_agent_id, decided_by_operator, reason)
    SELECT tenant_id, task_id, 'rejected', requested_by_agent_id, %(removed_by)s::text, 'its policy was removed'
    FROM withdrawn
)
DELETE FROM policies
WHERE tenant_id = %(tenant_id)s::uuid AND id = %(policy_id)s::uuid
RETURNING id, tool, effect, (SELECT count(*) FROM cancelled) AS withdrawn

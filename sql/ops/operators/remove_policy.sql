-- Removes a tenant's policy by an operator: the calls it holds for approval are withdrawn (their
-- tasks cancelled, the withdrawal recorded), then the policy goes. The policy, if there was one.
WITH withdrawn AS (
    UPDATE approval_calls
    SET status = 'withdrawn', reason = 'its policy was removed', decided_by_operator = %(removed_by)s::text,
        decided_at = now()
    WHERE tenant_id = %(tenant_id)s::uuid AND policy_id = %(policy_id)s::uuid AND status = 'pending'
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

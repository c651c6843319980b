-- Calls held for approval (optionally one tenant's, or undecided only), oldest first, with who
-- asked, under which policy, and how they were decided.
SELECT c.task_id, t.name AS tenant_name, a.name AS requested_by, c.tool, c.arguments,
       CASE WHEN c.status = 'pending' AND c.created_at <= now() - interval '7 days' THEN 'expired'
            ELSE c.status END AS status,
       c.created_at, c.created_at + interval '7 days' AS expires_at, p.effect, p.condition, p.reason AS policy_reason,
       c.decided_by_operator, d.name AS decided_by_agent, c.reason, c.decided_at, c.error
FROM approval_calls c
JOIN tenants t ON t.id = c.tenant_id
JOIN agents a ON a.tenant_id = c.tenant_id AND a.id = c.requested_by_agent_id
LEFT JOIN agents d ON d.tenant_id = c.tenant_id AND d.id = c.decided_by_agent_id
LEFT JOIN policies p ON p.tenant_id = c.tenant_id AND p.id = c.policy_id
WHERE (%(tenant_id)s::uuid IS NULL OR c.tenant_id = %(tenant_id)s::uuid)
  AND (NOT %(pending_only)s::boolean OR (c.status = 'pending' AND c.created_at > now() - interval '7 days'))
ORDER BY c.created_at, c.task_id

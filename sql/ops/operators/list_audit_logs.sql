-- Audit rows, newest first, optionally for one tenant, agent (id, or name in any tenant), tool
-- or resource name, outcome, and since a time. Index: audit_logs_recent_idx, audit_logs_agent_idx.
SELECT l.occurred_at, t.name AS tenant_name, a.name AS agent_name, l.request_id, l.transport, l.kind,
       l.name, l.entity_type, l.entity_id, l.outcome, l.error_code, l.replayed,
       l.duration_ms, l.arguments
FROM audit_logs l
JOIN tenants t ON t.id = l.tenant_id
JOIN agents a ON a.tenant_id = l.tenant_id AND a.id = l.agent_id
WHERE (%(tenant_id)s::uuid IS NULL OR l.tenant_id = %(tenant_id)s::uuid)
  AND (%(agent_id)s::uuid IS NULL OR l.agent_id = %(agent_id)s::uuid)
  AND (%(agent_name)s::text IS NULL OR a.name = %(agent_name)s::text)
  AND (%(name)s::text IS NULL OR l.name = %(name)s::text)
  AND (%(outcome)s::text IS NULL OR l.outcome = %(outcome)s::text)
  AND (%(since)s::timestamptz IS NULL OR l.occurred_at >= %(since)s::timestamptz)
ORDER BY l.occurred_at DESC, l.id DESC
LIMIT %(limit)s

-- Audit rows, newest first, optionally for one tenant, agent (id, or name in any tenant), tool
-- or resource name, outcome, and since a time. Each tenant's newest rows come from its own
-- index range (audit_logs_pkey (tenant_id, occurred_at, id), or audit_logs_agent_idx for one
-- agent), newest partition first, at most `limit` each; then the newest `limit` of those.
SELECT l.occurred_at, t.name AS tenant_name, coalesce(a.name, l.agent_id::text) AS agent_name, l.request_id,
       l.transport, l.kind, l.name, l.entity_type, l.entity_id, l.outcome, l.error_code, l.replayed,
       l.duration_ms, l.arguments
FROM tenants t
CROSS JOIN LATERAL (
    SELECT r.* FROM audit_logs r
    WHERE r.tenant_id = t.id
      AND (%(agent_id)s::uuid IS NULL OR r.agent_id = %(agent_id)s::uuid)
      AND (%(agent_name)s::text IS NULL
           OR r.agent_id = (SELECT n.id FROM agents n WHERE n.tenant_id = t.id AND n.name = %(agent_name)s::text))
      AND (%(name)s::text IS NULL OR r.name = %(name)s::text)
      AND (%(outcome)s::text IS NULL OR r.outcome = %(outcome)s::text)
      AND (%(since)s::timestamptz IS NULL OR r.occurred_at >= %(since)s::timestamptz)
    ORDER BY r.occurred_at DESC, r.id DESC
    LIMIT %(limit)s
) l
LEFT JOIN agents a ON a.tenant_id = l.tenant_id AND a.id = l.agent_id
WHERE (%(tenant_id)s::uuid IS NULL OR t.id = %(tenant_id)s::uuid)
ORDER BY l.occurred_at DESC, l.id DESC
LIMIT %(limit)s

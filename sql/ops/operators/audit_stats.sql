-- Calls, denials and errors per tenant, agent and tool (or resource) since a time, busiest
-- first. Index: audit_logs_pkey (tenant_id, occurred_at, id), audit_logs_agent_idx; --since
-- reads only the partitions of the months since then.
SELECT t.name AS tenant_name, coalesce(a.name, l.agent_id::text) AS agent_name, l.kind, l.name,
       count(*) AS calls,
       count(*) FILTER (WHERE l.outcome = 'ok') AS ok,
       count(*) FILTER (WHERE l.outcome = 'denied') AS denied,
       count(*) FILTER (WHERE l.outcome = 'error') AS errors,
       round(avg(l.duration_ms), 1) AS avg_ms,
       max(l.occurred_at) AS last_at
FROM audit_logs l
JOIN tenants t ON t.id = l.tenant_id
LEFT JOIN agents a ON a.tenant_id = l.tenant_id AND a.id = l.agent_id
WHERE (%(tenant_id)s::uuid IS NULL OR l.tenant_id = %(tenant_id)s::uuid)
  AND (%(agent_id)s::uuid IS NULL OR l.agent_id = %(agent_id)s::uuid)
  AND (%(agent_name)s::text IS NULL OR a.name = %(agent_name)s::text)
  AND (%(name)s::text IS NULL OR l.name = %(name)s::text)
  AND (%(outcome)s::text IS NULL OR l.outcome = %(outcome)s::text)
  AND (%(since)s::timestamptz IS NULL OR l.occurred_at >= %(since)s::timestamptz)
GROUP BY t.name, coalesce(a.name, l.agent_id::text), l.kind, l.name
ORDER BY calls DESC, t.name, 2, l.name

-- An agent of the caller's business by name or id (create_task's and list_tasks' assignee).
-- Index: agents (tenant_id, name) unique, agents primary key.
SELECT id, name, status
FROM agents
WHERE tenant_id = bizctx_tenant() AND (name = %(name)s::text OR id = %(agent_id)s::uuid)
ORDER BY name = %(name)s::text DESC
LIMIT 1

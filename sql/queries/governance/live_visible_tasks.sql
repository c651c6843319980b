-- Which of these tasks the listening agent can see (row-level security applies its task
-- scope), and which of them its queue (bizctx://tasks/queue) counts: unassigned or its own.
SELECT id,
       assignee_agent_id IS NULL OR assignee_agent_id = bizctx_agent() AS in_queue
  FROM tasks
 WHERE tenant_id = bizctx_tenant() AND id = ANY(%(ids)s::uuid[])

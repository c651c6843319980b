-- An approval task holding a call the caller made (it created the task: the task scope's row
-- policy shows it even to an agent whose tasks domain is closed). Index: tasks primary key.
SELECT * FROM task_rows
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND type = 'approval'
  AND created_by_agent_id = bizctx_agent()

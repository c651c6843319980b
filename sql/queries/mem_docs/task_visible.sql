-- Whether the caller's task scope (row policy) shows this task. A foreign key alone would
-- accept a task outside the scope (constraint checks see every row), and so reveal it exists.
-- Index: tasks primary key.
SELECT EXISTS (SELECT 1 FROM tasks WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid) AS visible

-- One task, if the caller's scope (row policy) shows it. Index: tasks primary key (tenant_id, id).
SELECT * FROM task_rows WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid

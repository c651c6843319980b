-- The tenant of an approval task (operators decide across tenants). Index: approval_calls primary key.
SELECT tenant_id FROM approval_calls WHERE task_id = %(task_id)s::uuid

-- Ends an approval task: completed (its call ran; the result says how) or cancelled
-- (rejected, expired, withdrawn). Index: tasks primary key.
UPDATE task_rows
SET status = %(status)s::text, result = %(result)s::jsonb
WHERE tenant_id = bizctx_tenant() AND id = %(task_id)s::uuid AND status = 'awaiting_approval'
RETURNING *

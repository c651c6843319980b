-- Task ids for a `{task_id}` completion: tasks the caller can see (row-level security applies
-- its task scope) whose title, or id, starts with what was typed; newest first.
SELECT id::text AS value
FROM tasks
WHERE tenant_id = bizctx_tenant()
  AND (starts_with(lower(title), lower(%(prefix)s)) OR starts_with(id::text, lower(%(prefix)s)))
ORDER BY created_at DESC, id
LIMIT 101

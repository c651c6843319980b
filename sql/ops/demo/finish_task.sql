-- A demo task leaves claimed or pending: completed, failed (retry later), dead or cancelled.
-- Index: tasks primary key.
UPDATE tasks SET status = %(status)s, result = %(result)s, last_error = %(last_error)s,
                 run_after = now() + interval '15 minutes'
WHERE tenant_id = %(tenant_id)s AND id = %(task_id)s

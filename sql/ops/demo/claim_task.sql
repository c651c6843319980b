-- A worker claims a demo task (attempts + 1, a lease).
-- Index: tasks primary key.
UPDATE tasks SET status = 'claimed', attempts = attempts + 1, claimed_by_agent_id = %(agent_id)s,
                 lease_expires_at = now() + interval '10 minutes'
WHERE tenant_id = %(tenant_id)s AND id = %(task_id)s

-- The chain of parents above an agent, nearest first (at most 50: a longer chain is a loop in
-- the making). Index: agents primary key.
WITH RECURSIVE up (id, name, parent_agent_id, depth) AS (
    SELECT a.id, a.name, a.parent_agent_id, 1 FROM agents a
    WHERE a.tenant_id = %(tenant_id)s AND a.id = %(agent_id)s
    UNION ALL
    SELECT p.id, p.name, p.parent_agent_id, up.depth + 1
    FROM up JOIN agents p ON p.tenant_id = %(tenant_id)s AND p.id = up.parent_agent_id
    WHERE up.depth < 50
)
SELECT id, name FROM up WHERE depth > 1 ORDER BY depth

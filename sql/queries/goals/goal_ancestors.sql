-- The chain of parent goals above a goal, nearest first (at most 50), to refuse a loop.
-- Index: goals primary key.
WITH RECURSIVE up (id, parent_goal_id, depth) AS (
    SELECT g.id, g.parent_goal_id, 1 FROM goals g WHERE g.tenant_id = bizctx_tenant() AND g.id = %(goal_id)s::uuid
    UNION ALL
    SELECT p.id, p.parent_goal_id, up.depth + 1
    FROM up JOIN goals p ON p.tenant_id = bizctx_tenant() AND p.id = up.parent_goal_id
    WHERE up.depth < 50
)
SELECT id FROM up WHERE depth > 1 ORDER BY depth

-- A goal by its name (created, or changed in place), or by id when goal_id is given (then
-- its name may change too); its id, or nothing for an unknown goal_id.
-- Index: goals (tenant_id, name) unique; goals primary key.
WITH by_id AS (
    UPDATE goals
    SET name = %(name)s::text, description = %(description)s::text, goal_type = %(goal_type)s::text,
        target_value = %(target_value)s::numeric, target_unit = %(target_unit)s::text,
        target_date = %(target_date)s::date, kpi = %(kpi)s::text, responsible_agent_id = %(owner_agent_id)s::uuid,
        parent_goal_id = %(parent_goal_id)s::uuid, status = %(status)s::text
    WHERE tenant_id = bizctx_tenant() AND id = %(goal_id)s::uuid
    RETURNING id
), by_name AS (
    INSERT INTO goals (tenant_id, name, description, goal_type, target_value, target_unit, target_date, kpi,
                       responsible_agent_id, parent_goal_id, status, created_by_agent_id)
    SELECT bizctx_tenant(), %(name)s::text, %(description)s::text, %(goal_type)s::text, %(target_value)s::numeric,
           %(target_unit)s::text, %(target_date)s::date, %(kpi)s::text, %(owner_agent_id)s::uuid,
           %(parent_goal_id)s::uuid, %(status)s::text, bizctx_agent()
    WHERE %(goal_id)s::uuid IS NULL
    ON CONFLICT (tenant_id, name) DO UPDATE
    SET description = excluded.description, goal_type = excluded.goal_type, target_value = excluded.target_value,
        target_unit = excluded.target_unit, target_date = excluded.target_date, kpi = excluded.kpi,
        responsible_agent_id = excluded.responsible_agent_id, parent_goal_id = excluded.parent_goal_id,
        status = excluded.status
    RETURNING id
)
SELECT id FROM by_id UNION ALL SELECT id FROM by_name

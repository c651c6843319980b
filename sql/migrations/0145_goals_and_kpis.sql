-- Goals and KPIs (issue 18): goals an operator or an agent sets for the business (revenue,
-- efficiency, customer satisfaction, growth), with a target, an owner agent and a parent goal,
-- optionally tied to one of a fixed, vetted set of KPIs that shows its progress.
--
-- The KPIs are named SQL in sql/queries/goals/, never agent-supplied. The task KPIs are
-- tenant-wide whatever the viewer's task scope (DESIGN v2): they are counted by one narrow
-- security-definer function that applies the tenant itself and returns only aggregates, so
-- an agent scoped to its own tasks learns throughput, never another agent's tasks.

INSERT INTO capabilities (name, description) VALUES
    ('goals.read',  'Read the business''s goals and KPIs'),
    ('goals.write', 'Create and change goals');

CREATE TABLE goals (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description         text CHECK (length(description) <= 2000),
    goal_type           text NOT NULL CHECK (goal_type IN ('revenue', 'efficiency', 'customer_satisfaction', 'growth')),
    target_value        numeric(18, 4),
    -- A currency code for money, or the KPI's unit (count, percent, days, minutes), or free text.
    target_unit         text CHECK (length(target_unit) BETWEEN 1 AND 50),
    target_date         date,
    -- One of the KPIs get_kpis computes; its value this period is the goal's progress.
    kpi                 text CHECK (kpi IN ('revenue_invoiced', 'revenue_collected', 'receivables', 'overdue_amount',
                                            'avg_days_to_pay', 'appointments_booked', 'appointments_completed',
                                            'no_show_rate', 'staff_utilisation', 'new_clients', 'task_throughput',
                                            'task_failure_rate', 'avg_minutes_to_claim')),
    -- The agent responsible for it ("owner" in the API). Not a row scope, unlike mem_docs'
    -- owner_agent_id: every agent with goals.read sees every goal of its business.
    responsible_agent_id uuid,
    parent_goal_id      uuid,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'achieved', 'missed', 'cancelled')),
    created_by_agent_id uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, responsible_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (responsible_agent_id),
    FOREIGN KEY (tenant_id, parent_goal_id) REFERENCES goals (tenant_id, id) ON DELETE SET NULL (parent_goal_id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    CHECK (parent_goal_id <> id),
    CHECK ((kpi IS NULL) OR (target_value IS NOT NULL))
);
SELECT bizctx_secure_tenant_table('goals', 'SELECT, INSERT, UPDATE');

-- A task's events now also record run_after when it becomes pending (a task created for
-- later, or retried): when it became claimable is that, or the event, whichever is later. As
-- in 0005 otherwise.
CREATE OR REPLACE FUNCTION bizctx_tasks_record() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
       AND NOT (NEW.status = 'claimed' AND NEW.attempts > OLD.attempts) THEN
        RETURN NULL;
    END IF;
    INSERT INTO task_events (tenant_id, task_id, from_status, to_status, agent_id, detail)
    VALUES (NEW.tenant_id, NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
            NEW.status, bizctx_agent(),
            jsonb_strip_nulls(jsonb_build_object(
                'attempts', NEW.attempts,
                'claimed_by_agent_id', CASE WHEN NEW.status = 'claimed' THEN NEW.claimed_by_agent_id END,
                'lease_expires_at', NEW.lease_expires_at,
                'run_after', CASE WHEN NEW.status IN ('failed', 'pending') THEN NEW.run_after END,
                'error', CASE WHEN NEW.status IN ('failed', 'dead') THEN NEW.last_error END)));
    IF NEW.status = 'dead' THEN
        INSERT INTO dead_letters (tenant_id, task_id, task, history, last_error)
        SELECT NEW.tenant_id, NEW.id, to_jsonb(NEW),
               coalesce((SELECT jsonb_agg(to_jsonb(e) - 'tenant_id' ORDER BY e.id)
                           FROM task_events e
                          WHERE e.tenant_id = NEW.tenant_id AND e.task_id = NEW.id), '[]'::jsonb),
               NEW.last_error;
    END IF;
    RETURN NULL;
END
$$;

-- The task KPIs over [p_from, p_to), for the calling tenant only: tasks completed, tasks
-- that went dead (held calls for approval are not the queue's work: not counted), and the
-- average minutes from a task becoming claimable (the event that made it pending: created,
-- approved, released or retried; or the run_after it then had, if later) to its claim, over
-- claims from pending in the period.
CREATE INDEX task_events_at_idx ON task_events (tenant_id, at);
CREATE FUNCTION bizctx_task_kpis(p_from timestamptz, p_to timestamptz)
    RETURNS TABLE (completed bigint, dead bigint, avg_minutes_to_claim numeric)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    WITH ended AS (
        SELECT count(*) FILTER (WHERE e.to_status = 'completed') AS completed,
               count(*) FILTER (WHERE e.to_status = 'dead') AS dead
        FROM task_events e
        JOIN tasks t ON t.tenant_id = e.tenant_id AND t.id = e.task_id AND t.type <> 'approval'
        WHERE e.tenant_id = bizctx_tenant() AND e.at >= p_from AND e.at < p_to
          AND e.to_status IN ('completed', 'dead')
    ),
    claims AS (
        SELECT c.at - greatest(b.at, coalesce((b.detail ->> 'run_after')::timestamptz, b.at)) AS waited
        FROM task_events c
        CROSS JOIN LATERAL (SELECT p.at, p.detail FROM task_events p
                            WHERE p.tenant_id = c.tenant_id AND p.task_id = c.task_id AND p.id < c.id
                            ORDER BY p.id DESC LIMIT 1) b
        WHERE c.tenant_id = bizctx_tenant() AND c.at >= p_from AND c.at < p_to
          AND c.to_status = 'claimed' AND c.from_status = 'pending'
    )
    SELECT ended.completed, ended.dead,
           (SELECT round(avg(extract(epoch FROM claims.waited) / 60), 1) FROM claims)
    FROM ended
$$;
REVOKE ALL ON FUNCTION bizctx_task_kpis(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bizctx_task_kpis(timestamptz, timestamptz) TO bizctx_app;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('upsert_goal', 'goals.write'),
    ('list_goals', 'goals.read'),
    ('get_kpis', 'goals.read');

-- The directory's and the KPIs' security-definer functions run as a role of their own.
--
-- Why: a SECURITY DEFINER function runs as its owner, and everything else is owned by the
-- login that ran the migrations, which is a member of bizctx_app (0001). Where that login is
-- not a superuser, FORCE ROW LEVEL SECURITY holds it to bizctx_app's policies inside the
-- function too, task scope included: the task KPIs would count only the caller's own tasks
-- (failing closed, but not what get_kpis promises), and the tests, run as a superuser whom RLS
-- never binds, would not see it. bizctx_stats is a NOLOGIN role that belongs to no other: it
-- may read the four tables these functions read, and of them only the rows of the business
-- the call set (its one policy), whoever owns the database.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bizctx_stats') THEN
        CREATE ROLE bizctx_stats NOLOGIN NOINHERIT;
    END IF;
    EXECUTE format('GRANT bizctx_stats TO %I', current_user);
END
$$;
-- CREATE: a function's owner must be able to create it where it lives.
GRANT USAGE, CREATE ON SCHEMA public TO bizctx_stats;
GRANT SELECT ON agents, audit_logs, tasks, task_events TO bizctx_stats;
CREATE POLICY stats_tenant ON agents FOR SELECT TO bizctx_stats USING (tenant_id = bizctx_tenant());
CREATE POLICY stats_tenant ON audit_logs FOR SELECT TO bizctx_stats USING (tenant_id = bizctx_tenant());
CREATE POLICY stats_tenant ON tasks FOR SELECT TO bizctx_stats USING (tenant_id = bizctx_tenant());
CREATE POLICY stats_tenant ON task_events FOR SELECT TO bizctx_stats USING (tenant_id = bizctx_tenant());

-- As in 0145, but held calls for approval are not the queue's work: their completing (the call
-- ran) is not throughput.
CREATE OR REPLACE FUNCTION bizctx_task_kpis(p_from timestamptz, p_to timestamptz)
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

ALTER FUNCTION bizctx_agents_last_seen() OWNER TO bizctx_stats;
ALTER FUNCTION bizctx_agents_last_seen() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION bizctx_task_kpis(timestamptz, timestamptz) OWNER TO bizctx_stats;

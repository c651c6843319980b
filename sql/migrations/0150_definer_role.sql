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

ALTER FUNCTION bizctx_agents_last_seen() OWNER TO bizctx_stats;
ALTER FUNCTION bizctx_task_kpis(timestamptz, timestamptz) OWNER TO bizctx_stats;

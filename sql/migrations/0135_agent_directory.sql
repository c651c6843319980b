-- The agent directory (list_agents, bizctx://agents): agents can find each other by name and
-- role, and read a hierarchy (orchestrator, director, specialist) operators set with
-- `bizctx agent set --role --description --parent`.
--
-- "Last seen" comes from the audit log, which every call already writes: no extra write per
-- call on the hot path. Agents may only insert audit rows (0001), so one narrow function
-- reads them for the directory: SECURITY DEFINER, it returns only each agent's latest call
-- time, for the calling tenant's agents only (it applies bizctx_tenant() itself; RLS does not
-- run for its owner), one index probe per agent on audit_logs_agent_idx.

ALTER TABLE agents
    ADD COLUMN role text CHECK (role IN ('orchestrator', 'director', 'specialist')),
    ADD COLUMN description text CHECK (length(description) BETWEEN 1 AND 1000),
    ADD COLUMN parent_agent_id uuid,
    ADD CONSTRAINT agents_parent_fk FOREIGN KEY (tenant_id, parent_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (parent_agent_id),
    ADD CONSTRAINT agents_not_own_parent CHECK (parent_agent_id <> id);

CREATE FUNCTION bizctx_agents_last_seen() RETURNS TABLE (agent_id uuid, last_seen_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.id, (SELECT l.occurred_at FROM audit_logs l
                  WHERE l.tenant_id = a.tenant_id AND l.agent_id = a.id
                  ORDER BY l.occurred_at DESC LIMIT 1)
    FROM agents a
    WHERE a.tenant_id = bizctx_tenant()
$$;
REVOKE ALL ON FUNCTION bizctx_agents_last_seen() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bizctx_agents_last_seen() TO bizctx_app;

INSERT INTO tool_capabilities (tool_name, capability) VALUES ('list_agents', 'tasks.read');

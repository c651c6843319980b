-- Governance: tenants, agents, capabilities, the audit log, and the mechanics every
-- tenant table shares (RLS policies, grants, updated_at, change notifications).

CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- bizctx_app: the role every agent call runs as (SET LOCAL ROLE), subject to RLS.
-- bizctx_operator: the CLI and migrations; sees every tenant. Both are NOLOGIN
-- group roles granted to whoever runs the migrations, so a non-superuser owner
-- from DATABASE_URL can SET ROLE into bizctx_app and keep operator rights.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bizctx_app') THEN
        CREATE ROLE bizctx_app NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bizctx_operator') THEN
        CREATE ROLE bizctx_operator NOLOGIN;
    END IF;
    EXECUTE format('GRANT bizctx_app TO %I', current_user);
    EXECUTE format('GRANT bizctx_operator TO %I', current_user);
END
$$;

GRANT USAGE ON SCHEMA public TO bizctx_app;

-- The tenant and agent of the current transaction, as set by the guard with
-- set_config(..., true). NULL when unset, so a policy compares to NULL and sees nothing.
CREATE FUNCTION bizctx_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE FUNCTION bizctx_agent() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.agent_id', true), '')::uuid $$;

CREATE FUNCTION bizctx_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Valid IANA zone names, checked against the server's zone database.
CREATE FUNCTION bizctx_is_time_zone(tz text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) $$;

-- Every tenant table goes through this: RLS enabled and forced, the tenant policy
-- for bizctx_app, the all-tenants policy for operators, DML grants for bizctx_app,
-- and the updated_at trigger when the table has that column.
CREATE FUNCTION bizctx_secure_tenant_table(tbl regclass, app_privileges text DEFAULT 'SELECT, INSERT, UPDATE, DELETE')
    RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s TO bizctx_app '
        'USING (tenant_id = bizctx_tenant()) WITH CHECK (tenant_id = bizctx_tenant())', tbl);
    EXECUTE format('CREATE POLICY operator_all ON %s TO bizctx_operator USING (true) WITH CHECK (true)', tbl);
    EXECUTE format('GRANT %s ON %s TO bizctx_app', app_privileges, tbl);
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = tbl AND attname = 'updated_at' AND NOT attisdropped) THEN
        EXECUTE format(
            'CREATE TRIGGER touch_updated_at BEFORE UPDATE ON %s '
            'FOR EACH ROW EXECUTE FUNCTION bizctx_touch_updated_at()', tbl);
    END IF;
END
$$;

-- Reference tables ------------------------------------------------------------

CREATE TABLE tenants (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    time_zone      text NOT NULL DEFAULT 'UTC' CHECK (bizctx_is_time_zone(time_zone)),
    invoice_prefix text NOT NULL DEFAULT 'INV-' CHECK (length(invoice_prefix) <= 20),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION bizctx_touch_updated_at();
-- An agent may read its own tenant row (time zone, prefix), nothing else.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO bizctx_app USING (id = bizctx_tenant());
CREATE POLICY operator_all ON tenants TO bizctx_operator USING (true) WITH CHECK (true);
GRANT SELECT ON tenants TO bizctx_app;

CREATE TABLE capabilities (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z_]+\.[a-z_]+$'),
    description text NOT NULL
);
GRANT SELECT ON capabilities TO bizctx_app;

INSERT INTO capabilities (name, description) VALUES
    ('clients.read',       'Read clients, their addresses, preferences, segments and history'),
    ('clients.write',      'Create and update clients, log interactions, set preferences'),
    ('appointments.read',  'Read services, resources, availability and appointments'),
    ('appointments.write', 'Book, reschedule, cancel and update appointments'),
    ('invoices.read',      'Read invoices, payments and receivables'),
    ('invoices.write',     'Create invoices, record payments, void invoices'),
    ('tasks.read',         'List tasks'),
    ('tasks.write',        'Create tasks and request approvals'),
    ('tasks.work',         'Claim, complete and fail tasks from the work queue'),
    ('tasks.approve',      'Approve or reject tasks awaiting approval'),
    ('mem_docs.read',      'Recall memory documents'),
    ('mem_docs.write',     'Remember and forget memory documents');

-- Which capability each tool needs. Seeded here; operators may edit it.
CREATE TABLE tool_capabilities (
    tool_name  text PRIMARY KEY CHECK (tool_name ~ '^[a-z_]+$'),
    capability text NOT NULL REFERENCES capabilities (name)
);
GRANT SELECT ON tool_capabilities TO bizctx_app;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('search_clients', 'clients.read'), ('get_client', 'clients.read'),
    ('get_client_context', 'clients.read'),
    ('upsert_client', 'clients.write'), ('log_interaction', 'clients.write'),
    ('set_client_preference', 'clients.write'),
    ('list_services', 'appointments.read'), ('list_resources', 'appointments.read'),
    ('find_available_slots', 'appointments.read'), ('list_appointments', 'appointments.read'),
    ('book_appointment', 'appointments.write'), ('reschedule_appointment', 'appointments.write'),
    ('cancel_appointment', 'appointments.write'), ('set_appointment_status', 'appointments.write'),
    ('list_invoices', 'invoices.read'), ('get_invoice', 'invoices.read'),
    ('receivables_aging', 'invoices.read'),
    ('create_invoice', 'invoices.write'), ('record_payment', 'invoices.write'),
    ('void_invoice', 'invoices.write'),
    ('list_tasks', 'tasks.read'),
    ('create_task', 'tasks.write'), ('request_approval', 'tasks.write'),
    ('claim_next_task', 'tasks.work'), ('complete_task', 'tasks.work'), ('fail_task', 'tasks.work'),
    ('decide_approval', 'tasks.approve'),
    ('recall', 'mem_docs.read'),
    ('remember', 'mem_docs.write'), ('forget', 'mem_docs.write');

-- Settings fixed per database (e.g. the embedding dimension), recorded once.
CREATE TABLE db_settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON db_settings TO bizctx_app;

-- Agents ------------------------------------------------------------------------

CREATE TABLE agents (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    -- The visible start of the key (e.g. 'bctx_AbC1'), for operators to recognise it.
    key_prefix      text NOT NULL,
    -- sha256 of the whole key, hex. The key itself is never stored.
    key_hash        text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    access_patterns jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(access_patterns) = 'object'),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, key_hash)
);
-- Key lookup happens before the tenant is known.
CREATE INDEX agents_key_hash_idx ON agents (key_hash);
SELECT bizctx_secure_tenant_table('agents', 'SELECT');

CREATE TABLE agent_capabilities (
    tenant_id  uuid NOT NULL,
    agent_id   uuid NOT NULL,
    capability text NOT NULL REFERENCES capabilities (name),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id, capability),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
SELECT bizctx_secure_tenant_table('agent_capabilities', 'SELECT');

-- Running servers cache agents in memory; any change to an agent, its grants or the
-- tool map tells them to reload.
CREATE FUNCTION bizctx_notify_agents_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bizctx_agents_changed', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER notify_agents_changed AFTER INSERT OR UPDATE OR DELETE ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION bizctx_notify_agents_changed();
CREATE TRIGGER notify_agents_changed AFTER INSERT OR UPDATE OR DELETE ON agent_capabilities
    FOR EACH STATEMENT EXECUTE FUNCTION bizctx_notify_agents_changed();
CREATE TRIGGER notify_agents_changed AFTER INSERT OR UPDATE OR DELETE ON tool_capabilities
    FOR EACH STATEMENT EXECUTE FUNCTION bizctx_notify_agents_changed();

-- Audit -------------------------------------------------------------------------

-- One row per call, allowed, denied or failed. Agents may insert (their own call's
-- row, in its transaction) but never read.
CREATE TABLE audit_logs (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    agent_id    uuid NOT NULL,
    request_id  text NOT NULL,
    transport   text NOT NULL CHECK (transport IN ('stdio', 'sse', 'streamable-http', 'memory')),
    kind        text NOT NULL CHECK (kind IN ('tool', 'resource')),
    name        text NOT NULL,
    entity_type text,
    entity_id   text,
    outcome     text NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),
    error_code  text CHECK (error_code IN ('not_found', 'conflict', 'permission_denied', 'invalid_input',
                                           'unavailable', 'rate_limited', 'internal')),
    duration_ms numeric(12, 3) NOT NULL CHECK (duration_ms >= 0),
    arguments   jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE,
    CHECK ((outcome = 'ok') = (error_code IS NULL))
);
CREATE INDEX audit_logs_recent_idx ON audit_logs (tenant_id, occurred_at DESC);
CREATE INDEX audit_logs_agent_idx ON audit_logs (tenant_id, agent_id, occurred_at DESC);
SELECT bizctx_secure_tenant_table('audit_logs', 'INSERT');

-- The audit log, partitioned by month.
--
-- Why: every call adds a row and nothing ever removed one, so audit_logs only grew. Pruning a
-- plain table means DELETEing millions of rows (and vacuuming after them) while agents insert;
-- with one partition per month, rows past the retention are a partition to DROP, and the
-- indexes an insert updates are the current month's, not those of every row ever written.
-- (DESIGN v2: a partitioned audit_logs keeps tenant_id first in its key, (tenant_id,
-- occurred_at, id): a partitioned table's keys must hold the partition column.)
--
-- The row pays only for what its readers use, since every governed call inserts one:
-- * the primary key (tenant_id, occurred_at, id) replaces both (tenant_id, id) and the
--   (tenant_id, occurred_at DESC) index: `bizctx audit` reads a tenant's rows newest first
--   from it, the newest partition first, and stops at its limit;
-- * audit_logs_agent_idx (tenant_id, agent_id, occurred_at DESC) stays: `bizctx audit
--   --agent` and list_agents' last-seen probe (bizctx_agents_last_seen, 0135) read it;
-- * no foreign keys: each one cost an index probe and a KEY SHARE row lock on the agent's
--   and the tenant's row per insert (concurrent calls of one agent shared those rows through
--   multixacts), and both cascaded deletes into the evidence, against DESIGN (audit rows
--   outlive agents; agents are disabled, never deleted). The tenant and agent come from the
--   verified key, and RLS's WITH CHECK keeps an agent inside its tenant, as before.
--
-- A month's partition is made ahead of time: here for every month holding rows and for the
-- current and next months, then by every process that opens the database (serve, the CLI)
-- and by HTTP serve's hourly job. A row whose month has no partition (a server that ran
-- past the next month without restarting) lands in audit_logs_default instead of failing
-- the call; bizctx_ensure_audit_partitions() moves such rows into their month's partition
-- when it makes it, so the default partition stays empty in the normal course.
--
-- Existing rows move over in this migration's one transaction, ids kept (the identity
-- continues after the largest), so a failure leaves the old table as it was.

-- The old table steps aside with its names (constraints, indexes, the identity's sequence),
-- so the new one is made with the same ones.
ALTER TABLE audit_logs RENAME TO audit_logs_unpartitioned;
DO $$
DECLARE
    con text;
BEGIN
    FOR con IN SELECT conname FROM pg_constraint
               WHERE conrelid = 'audit_logs_unpartitioned'::regclass AND conname LIKE 'audit\_logs\_%'
    LOOP
        EXECUTE format('ALTER TABLE audit_logs_unpartitioned RENAME CONSTRAINT %I TO %I',
                       con, 'audit_logs_unpartitioned_' || substr(con, length('audit_logs_') + 1));
    END LOOP;
END
$$;
ALTER TABLE audit_logs_unpartitioned ALTER COLUMN id DROP IDENTITY;
DROP INDEX audit_logs_recent_idx;
DROP INDEX audit_logs_agent_idx;

-- The same columns in the same order (an export's lines read back with
-- jsonb_populate_record(NULL::audit_logs, ...)), and the same named checks.
CREATE TABLE audit_logs (
    tenant_id        uuid NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at      timestamptz NOT NULL DEFAULT now(),
    agent_id         uuid NOT NULL,
    request_id       text NOT NULL,
    transport        text NOT NULL CONSTRAINT audit_logs_transport_check
                         CHECK (transport IN ('stdio', 'sse', 'streamable-http', 'memory')),
    kind             text NOT NULL CONSTRAINT audit_logs_kind_check
                         CHECK (kind IN ('tool', 'resource', 'completion')),
    name             text NOT NULL,
    entity_type      text,
    entity_id        text,
    outcome          text NOT NULL CONSTRAINT audit_logs_outcome_check
                         CHECK (outcome IN ('ok', 'denied', 'error', 'pending', 'blocked')),
    error_code       text CONSTRAINT audit_logs_error_code_check
                         CHECK (error_code IN ('not_found', 'conflict', 'permission_denied', 'invalid_input',
                                               'unavailable', 'rate_limited', 'internal', 'approval_required',
                                               'policy_blocked')),
    duration_ms      numeric(12, 3) NOT NULL CONSTRAINT audit_logs_duration_ms_check CHECK (duration_ms >= 0),
    arguments        jsonb NOT NULL DEFAULT '{}'::jsonb,
    replayed         boolean NOT NULL DEFAULT false,
    approval_task_id uuid,
    rule             jsonb,
    CONSTRAINT audit_logs_pkey PRIMARY KEY (tenant_id, occurred_at, id),
    CONSTRAINT audit_logs_check CHECK ((outcome = 'ok') = (error_code IS NULL))
) PARTITION BY RANGE (occurred_at);
CREATE INDEX audit_logs_agent_idx ON audit_logs (tenant_id, agent_id, occurred_at DESC);
CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT;

-- Rights as before: agents insert (their tenant's rows) and read none; bizctx_stats reads
-- the calling tenant's rows for the security-definer functions (0150). A partition is read
-- and written through audit_logs only: it is granted to nobody, so its missing policies
-- never matter.
SELECT bizctx_secure_tenant_table('audit_logs', 'INSERT');
GRANT SELECT ON audit_logs TO bizctx_stats;
CREATE POLICY stats_tenant ON audit_logs FOR SELECT TO bizctx_stats USING (tenant_id = bizctx_tenant());

-- Month partitions are named audit_logs_YYYY_MM and bounded by UTC month starts.
CREATE FUNCTION bizctx_ensure_audit_partitions(p_from timestamptz DEFAULT now(), p_months integer DEFAULT 2)
    RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    first_month timestamp := date_trunc('month', p_from AT TIME ZONE 'UTC');
    month_start timestamp;
    lo timestamptz;
    hi timestamptz;
    part text;
    made integer := 0;
BEGIN
    FOR i IN 0 .. p_months - 1 LOOP
        month_start := first_month + make_interval(months => i);
        part := 'audit_logs_' || to_char(month_start, 'YYYY_MM');
        CONTINUE WHEN to_regclass('public.' || part) IS NOT NULL;
        -- Two processes starting at once: the second waits, then finds the partition made.
        PERFORM pg_advisory_xact_lock(hashtext('bizctx_audit_partitions'));
        CONTINUE WHEN to_regclass('public.' || part) IS NOT NULL;
        lo := month_start AT TIME ZONE 'UTC';
        hi := (month_start + interval '1 month') AT TIME ZONE 'UTC';
        IF EXISTS (SELECT 1 FROM audit_logs_default WHERE occurred_at >= lo AND occurred_at < hi) THEN
            -- The month's rows wait in the default partition: they move into the new one.
            EXECUTE format('CREATE TABLE public.%I (LIKE public.audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           part);
            EXECUTE format('WITH moved AS (DELETE FROM public.audit_logs_default '
                           'WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *) '
                           'INSERT INTO public.%I SELECT * FROM moved', part) USING lo, hi;
            EXECUTE format('ALTER TABLE public.audit_logs ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                           part, lo, hi);
        ELSE
            EXECUTE format('CREATE TABLE public.%I PARTITION OF public.audit_logs FOR VALUES FROM (%L) TO (%L)',
                           part, lo, hi);
        END IF;
        made := made + 1;
    END LOOP;
    RETURN made;
END
$$;

-- The partitions with their bounds, oldest first; the default partition last, unbounded.
CREATE FUNCTION bizctx_audit_partitions()
    RETURNS TABLE (partition_name text, starts_at timestamptz, ends_at timestamptz)
    LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.audit_logs'::regclass
    ORDER BY 2 NULLS LAST
$$;

-- Before a month partition is exported and dropped: no insert into it can still be running
-- or start (SHARE waits for writers to commit and keeps new ones out), so an export read
-- after this sees every row the DROP removes.
CREATE FUNCTION bizctx_lock_audit_partition(p_name text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM bizctx_audit_partitions() p
                   WHERE p.partition_name = p_name AND p.ends_at IS NOT NULL) THEN
        RAISE EXCEPTION 'no month partition of audit_logs is named %', p_name;
    END IF;
    EXECUTE format('LOCK TABLE public.%I IN SHARE MODE', p_name);
END
$$;

-- Drops one month partition; how many rows it held.
CREATE FUNCTION bizctx_drop_audit_partition(p_name text) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM bizctx_audit_partitions() p
                   WHERE p.partition_name = p_name AND p.ends_at IS NOT NULL) THEN
        RAISE EXCEPTION 'no month partition of audit_logs is named %', p_name;
    END IF;
    EXECUTE format('SELECT count(*) FROM public.%I', p_name) INTO n;
    EXECUTE format('DROP TABLE public.%I', p_name);
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION bizctx_ensure_audit_partitions(timestamptz, integer), bizctx_audit_partitions(),
    bizctx_lock_audit_partition(text), bizctx_drop_audit_partition(text) FROM PUBLIC;

-- Every month holding rows, then the current and next months.
SELECT bizctx_ensure_audit_partitions(since, months)
FROM (SELECT since,
             ((extract(year FROM now() AT TIME ZONE 'UTC') - extract(year FROM since AT TIME ZONE 'UTC')) * 12
              + extract(month FROM now() AT TIME ZONE 'UTC') - extract(month FROM since AT TIME ZONE 'UTC')
             )::integer + 2 AS months
      FROM (SELECT least(coalesce(min(occurred_at), now()), now()) AS since FROM audit_logs_unpartitioned) s) m;

INSERT INTO audit_logs (tenant_id, id, occurred_at, agent_id, request_id, transport, kind, name, entity_type,
                        entity_id, outcome, error_code, duration_ms, arguments, replayed, approval_task_id, rule)
OVERRIDING SYSTEM VALUE
SELECT tenant_id, id, occurred_at, agent_id, request_id, transport, kind, name, entity_type,
       entity_id, outcome, error_code, duration_ms, arguments, replayed, approval_task_id, rule
FROM audit_logs_unpartitioned;
SELECT setval(pg_get_serial_sequence('audit_logs', 'id'),
              coalesce((SELECT max(id) FROM audit_logs_unpartitioned), 0) + 1, false);
DROP TABLE audit_logs_unpartitioned;

-- Governed actions: policies the guard enforces on what agents do (deny, limit, require
-- approval), the approval gate's stored calls, and the counters limits are taken from.
--
-- Why here and not in Python alone: a policy must apply to the next call on every replica
-- (tenants.policy_version, checked in each call's first round trip), two agents racing for
-- the last allowed call must not both get it (a row lock per counter key), and a held call
-- must run exactly once however many approvers press the button (the task row's lock).

-- Policies ------------------------------------------------------------------------------

ALTER TABLE tenants ADD COLUMN policy_version bigint NOT NULL DEFAULT 0;

CREATE TABLE policies (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    tool           text NOT NULL CHECK (tool ~ '^[a-z][a-z0-9_]{0,63}$'),
    -- {"field": {"op": value, ...}, ...}: every comparison must hold (checked when added).
    condition      jsonb CHECK (condition IS NULL OR jsonb_typeof(condition) = 'object'),
    effect         text NOT NULL CHECK (effect IN ('require_approval', 'deny', 'limit')),
    max_calls      integer CHECK (max_calls > 0),
    max_amount     numeric(18, 4) CHECK (max_amount > 0),
    window_seconds integer CHECK (window_seconds BETWEEN 1 AND 31536000),
    -- limit: whose calls count together (each agent's own, or the whole tenant's).
    scope          text CHECK (scope IN ('agent', 'tenant')),
    -- Only this agent's calls; NULL: every agent's.
    agent_id       uuid,
    reason         text CHECK (length(reason) <= 500),
    -- Set on a seeded default (its name), so one an operator removed is never re-added.
    default_key    text,
    created_by     text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT policies_limit_shape CHECK (
        (effect = 'limit') = (window_seconds IS NOT NULL AND scope IS NOT NULL
                              AND (max_calls IS NOT NULL OR max_amount IS NOT NULL))
        AND (effect = 'limit' OR (max_calls IS NULL AND max_amount IS NULL)))
);
CREATE INDEX policies_tool_idx ON policies (tenant_id, tool);
SELECT bizctx_secure_tenant_table('policies', 'SELECT');

-- Any change to a tenant's policies moves its version: every server's cached copy is then
-- stale at its next call (checked in that call's opening statement) and reloaded.
CREATE FUNCTION bizctx_policies_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenants SET policy_version = policy_version + 1
     WHERE id = coalesce(NEW.tenant_id, OLD.tenant_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER policies_changed AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION bizctx_policies_changed();

-- Raised (BZ010) when the caller's cached policies are not the tenant's current ones.
CREATE FUNCTION bizctx_expect_policy_version(expected bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF expected IS DISTINCT FROM (SELECT policy_version FROM tenants WHERE id = bizctx_tenant()) THEN
        RAISE EXCEPTION 'the tenant''s policies changed' USING ERRCODE = 'BZ010';
    END IF;
    RETURN true;
END
$$;

-- Defaults: every tenant, existing and new, gets them once. The marker outlives the policy,
-- so an operator's removal sticks.
CREATE TABLE policy_defaults_applied (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    default_key text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, default_key)
);
SELECT bizctx_secure_tenant_table('policy_defaults_applied', 'SELECT');

CREATE FUNCTION bizctx_apply_default_policies(p_tenant_id uuid) RETURNS void
    LANGUAGE sql AS $$
    WITH defaults (default_key, tool, effect, reason) AS (
        VALUES ('void_invoice_approval', 'void_invoice', 'require_approval',
                'Voiding an invoice writes off what the client owes: a second person decides.')
    ),
    fresh AS (
        INSERT INTO policy_defaults_applied (tenant_id, default_key)
        SELECT p_tenant_id, d.default_key FROM defaults d
        ON CONFLICT DO NOTHING
        RETURNING default_key
    )
    INSERT INTO policies (tenant_id, tool, effect, reason, default_key, created_by)
    SELECT p_tenant_id, d.tool, d.effect, d.reason, d.default_key, 'bizctx defaults'
    FROM defaults d JOIN fresh f USING (default_key)
$$;

CREATE FUNCTION bizctx_tenant_defaults() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bizctx_apply_default_policies(NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER tenant_defaults AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION bizctx_tenant_defaults();

SELECT bizctx_apply_default_policies(id) FROM tenants;

-- Limits ----------------------------------------------------------------------------------

-- One row per counter key (a limit policy and whose calls it counts), locked by every call
-- that takes from it, so the check and the use are one step per key; and the uses in the
-- rolling window. A call that fails rolls its use back with everything else.
CREATE TABLE policy_counters (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    policy_id  uuid NOT NULL,
    subject    text NOT NULL,  -- an agent id, or 'tenant'
    touched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, policy_id, subject),
    FOREIGN KEY (tenant_id, policy_id) REFERENCES policies (tenant_id, id) ON DELETE CASCADE
);
SELECT bizctx_secure_tenant_table('policy_counters', 'SELECT, INSERT, UPDATE');

CREATE TABLE policy_uses (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        bigint GENERATED ALWAYS AS IDENTITY,
    policy_id uuid NOT NULL,
    subject   text NOT NULL,
    amount    numeric(18, 4),
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, policy_id, subject) REFERENCES policy_counters (tenant_id, policy_id, subject)
        ON DELETE CASCADE
);
CREATE INDEX policy_uses_window_idx ON policy_uses (tenant_id, policy_id, subject, at);
SELECT bizctx_secure_tenant_table('policy_uses', 'SELECT, INSERT, DELETE');

-- Take one use (and `amount`, for an amount limit) from a limit, or say when it frees up:
-- allowed, and retry_after_s when not. Rolling window: the uses of the last window_seconds.
CREATE FUNCTION bizctx_take_limit(p_policy_id uuid, p_subject text, p_window_seconds integer,
                                  p_max_calls integer, p_max_amount numeric, p_amount numeric,
                                  OUT allowed boolean, OUT retry_after_s numeric)
    LANGUAGE plpgsql AS $$
DECLARE
    since timestamptz := statement_timestamp() - make_interval(secs => p_window_seconds);
    used_calls bigint;
    used_amount numeric;
    frees_at timestamptz;
BEGIN
    INSERT INTO policy_counters AS c (tenant_id, policy_id, subject)
    VALUES (bizctx_tenant(), p_policy_id, p_subject)
    ON CONFLICT (tenant_id, policy_id, subject) DO UPDATE SET touched_at = statement_timestamp();
    DELETE FROM policy_uses
     WHERE tenant_id = bizctx_tenant() AND policy_id = p_policy_id AND subject = p_subject AND at <= since;
    SELECT count(*), coalesce(sum(amount), 0) INTO used_calls, used_amount
      FROM policy_uses
     WHERE tenant_id = bizctx_tenant() AND policy_id = p_policy_id AND subject = p_subject;
    allowed := (p_max_calls IS NULL OR used_calls + 1 <= p_max_calls)
               AND (p_max_amount IS NULL OR used_amount + coalesce(p_amount, 0) <= p_max_amount);
    IF allowed THEN
        INSERT INTO policy_uses (tenant_id, policy_id, subject, amount)
        VALUES (bizctx_tenant(), p_policy_id, p_subject, p_amount);
        retry_after_s := NULL;
    ELSE
        -- The earliest moment enough of the window's uses have aged out for this call.
        SELECT min(u.at) + make_interval(secs => p_window_seconds) INTO frees_at
          FROM (SELECT at, sum(amount) OVER (ORDER BY at, id) AS running, row_number() OVER (ORDER BY at, id) AS n
                  FROM policy_uses
                 WHERE tenant_id = bizctx_tenant() AND policy_id = p_policy_id AND subject = p_subject) u
         WHERE (p_max_calls IS NULL OR used_calls - u.n + 1 <= p_max_calls)
           AND (p_max_amount IS NULL OR used_amount - u.running + coalesce(p_amount, 0) <= p_max_amount);
        retry_after_s := greatest(ceil(extract(epoch FROM coalesce(frees_at, statement_timestamp())
                                                           - statement_timestamp())), 1);
    END IF;
END
$$;

-- The approval gate ----------------------------------------------------------------------

-- Task transitions become data, like the appointments' (0050), and gain one: an approval
-- task completes straight from awaiting_approval (its held call ran; result or error stored).
CREATE TABLE task_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    -- Only for tasks of this type; NULL: any type.
    task_type   text,
    UNIQUE NULLS NOT DISTINCT (from_status, to_status, task_type)
);
INSERT INTO task_transitions (from_status, to_status, task_type) VALUES
    ('pending', 'claimed', NULL), ('pending', 'awaiting_approval', NULL), ('pending', 'cancelled', NULL),
    ('awaiting_approval', 'pending', NULL), ('awaiting_approval', 'cancelled', NULL),
    ('awaiting_approval', 'completed', 'approval'),
    ('claimed', 'completed', NULL), ('claimed', 'failed', NULL), ('claimed', 'dead', NULL),
    ('claimed', 'pending', NULL), ('claimed', 'claimed', NULL),
    ('failed', 'claimed', NULL), ('failed', 'cancelled', NULL), ('failed', 'dead', NULL);
GRANT SELECT ON task_transitions TO bizctx_app;

CREATE OR REPLACE FUNCTION bizctx_tasks_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    reclaim boolean := false;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.requires_approval AND NEW.status = 'pending' THEN
            NEW.status := 'awaiting_approval';
        END IF;
        IF NEW.status NOT IN ('pending', 'awaiting_approval') THEN
            RAISE EXCEPTION 'invalid task status transition: (new) -> %', NEW.status USING ERRCODE = 'BZ001';
        END IF;
        NEW.requires_approval := NEW.requires_approval OR NEW.status = 'awaiting_approval';
    ELSE
        IF NEW.status = 'failed' AND OLD.status IS DISTINCT FROM 'failed' AND NEW.attempts >= NEW.max_attempts THEN
            NEW.status := 'dead';
        END IF;
        reclaim := OLD.status = 'claimed' AND NEW.status = 'claimed' AND NEW.attempts > OLD.attempts;
        IF (NEW.status IS DISTINCT FROM OLD.status OR reclaim)
           AND NOT EXISTS (SELECT 1 FROM task_transitions tt
                           WHERE tt.from_status = OLD.status AND tt.to_status = NEW.status
                             AND (tt.task_type IS NULL OR tt.task_type = NEW.type)) THEN
            RAISE EXCEPTION 'invalid task status transition: % -> %', OLD.status, NEW.status USING ERRCODE = 'BZ001';
        END IF;
        IF NEW.status = 'claimed' AND OLD.status IS DISTINCT FROM 'claimed' AND NEW.attempts <= OLD.attempts THEN
            RAISE EXCEPTION 'invalid task status transition: % -> claimed (a claim must increment attempts)',
                OLD.status USING ERRCODE = 'BZ001';
        END IF;
        IF reclaim THEN
            IF OLD.lease_expires_at > clock_timestamp() THEN
                RAISE EXCEPTION 'invalid task status transition: claimed -> claimed (the lease has not expired)'
                    USING ERRCODE = 'BZ001';
            END IF;
            NEW.errors := OLD.errors || jsonb_build_array(jsonb_build_object(
                'at', now(), 'attempt', OLD.attempts, 'error', 'lease expired'));
        ELSIF OLD.status = 'claimed' AND NEW.status IN ('failed', 'dead') THEN
            NEW.errors := OLD.errors || jsonb_build_array(jsonb_build_object(
                'at', now(), 'attempt', OLD.attempts,
                'error', coalesce(NEW.last_error,
                                  CASE WHEN OLD.lease_expires_at <= clock_timestamp() THEN 'lease expired' END)));
        END IF;
        NEW.requires_approval := NEW.requires_approval OR NEW.status = 'awaiting_approval';
    END IF;
    NEW.completed_at := CASE WHEN NEW.status = 'completed' THEN coalesce(NEW.completed_at, now()) END;
    NEW.lease_expires_at := CASE WHEN NEW.status = 'claimed' THEN NEW.lease_expires_at END;
    RETURN NEW;
END
$$;

-- The held call of each approval task: agents' tools never return this row, only a view of
-- it rendered for the reader (the arguments are kept whole, to run the call as it was made).
CREATE TABLE approval_calls (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    task_id             uuid NOT NULL,
    tool                text NOT NULL,
    arguments           jsonb NOT NULL,
    requested_by_agent_id uuid NOT NULL,
    transport           text NOT NULL,
    policy_id           uuid,
    -- The policy as the requester was told it (it may change or go later).
    policy              jsonb,
    idempotency_key     text,
    status              text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'succeeded', 'failed', 'rejected', 'expired', 'withdrawn')),
    result              jsonb,
    error               jsonb,
    decided_by_agent_id uuid,
    decided_by_operator text,
    reason              text,
    decided_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, task_id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, requested_by_agent_id) REFERENCES agents (tenant_id, id),
    FOREIGN KEY (tenant_id, policy_id) REFERENCES policies (tenant_id, id) ON DELETE SET NULL (policy_id)
);
CREATE INDEX approval_calls_policy_idx ON approval_calls (tenant_id, policy_id) WHERE status = 'pending';
SELECT bizctx_secure_tenant_table('approval_calls', 'SELECT, INSERT, UPDATE');
CREATE POLICY task_scope ON approval_calls AS RESTRICTIVE TO bizctx_app
    USING (EXISTS (SELECT 1 FROM tasks t
                   WHERE t.tenant_id = approval_calls.tenant_id AND t.id = approval_calls.task_id))
    WITH CHECK (EXISTS (SELECT 1 FROM tasks t
                        WHERE t.tenant_id = approval_calls.tenant_id AND t.id = approval_calls.task_id));

-- A decision made by a person (bizctx approvals approve ID --as NAME) names them.
ALTER TABLE approval_events ADD COLUMN decided_by_operator text CHECK (length(decided_by_operator) <= 200);

-- A gated call's key answers with the approval while it is pending, and with the call's
-- outcome once decided.
ALTER TABLE idempotency_keys ADD COLUMN task_id uuid;

-- Audit: pending (held for approval) and blocked (refused by a policy or a limit); the row of
-- a call run on approval names its approval task.
ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_outcome_check;
ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_outcome_check
    CHECK (outcome IN ('ok', 'denied', 'error', 'pending', 'blocked'));
ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_error_code_check;
ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_error_code_check
    CHECK (error_code IN ('not_found', 'conflict', 'permission_denied', 'invalid_input', 'unavailable',
                          'rate_limited', 'internal', 'approval_required', 'policy_blocked'));
ALTER TABLE audit_logs ADD COLUMN approval_task_id uuid;

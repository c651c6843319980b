-- Tasks: a work queue for agents, with approvals, leases instead of heartbeats,
-- retries, a dead-letter table, and one task_events row per status change. The
-- status rules live here, in triggers, so no caller can skip them.
--
--   pending           -> claimed | awaiting_approval | cancelled
--   awaiting_approval -> pending (approved) | cancelled (rejected)
--   claimed           -> completed | failed | dead | pending (released)
--                        | claimed (re-claim after the lease expired; attempts + 1)
--   failed            -> claimed | cancelled | dead
--   completed, dead, cancelled: final.
-- A violation raises SQLSTATE BZ001 'invalid task status transition: X -> Y'.

CREATE TABLE tasks (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    type                text NOT NULL CHECK (length(btrim(type)) BETWEEN 1 AND 100),
    title               text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 500),
    payload             jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(payload) = 'object'),
    -- Higher runs first.
    priority            integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    status              text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'awaiting_approval', 'claimed', 'completed',
                                              'failed', 'dead', 'cancelled')),
    -- Set: a claim must be approved first. Inserting with it forces awaiting_approval.
    requires_approval   boolean NOT NULL DEFAULT false,
    -- Only this agent may claim the task, when set.
    assignee_agent_id   uuid,
    created_by_agent_id uuid,
    claimed_by_agent_id uuid,
    -- The lease of a claim; past it, the task may be claimed again. Cleared on leaving claimed.
    lease_expires_at    timestamptz,
    -- Incremented by every claim (the claim query does attempts = attempts + 1).
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts        integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    run_after           timestamptz NOT NULL DEFAULT now(),
    due_at              timestamptz,
    last_error          text,
    -- One {"at", "attempt", "error"} object per failed attempt, oldest first (river's
    -- errors). Appended by trigger from last_error; do not append yourself.
    errors              jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(errors) = 'array'),
    result              jsonb,
    idempotency_key     text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    client_id           uuid,
    appointment_id      uuid,
    invoice_id          uuid,
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, idempotency_key),
    FOREIGN KEY (tenant_id, assignee_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (assignee_agent_id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    FOREIGN KEY (tenant_id, claimed_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (claimed_by_agent_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE SET NULL (client_id),
    FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id)
        ON DELETE SET NULL (appointment_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE SET NULL (invoice_id),
    CHECK (attempts <= max_attempts),
    CHECK (status <> 'claimed' OR lease_expires_at IS NOT NULL),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
-- The claim: status IN ('pending', 'failed') AND run_after <= now()
-- ORDER BY priority DESC, run_after, created_at, id ... FOR UPDATE SKIP LOCKED.
CREATE INDEX tasks_queue_idx ON tasks (tenant_id, priority DESC, run_after, created_at, id)
    WHERE status IN ('pending', 'failed');
-- Expired leases: status = 'claimed' AND lease_expires_at <= now().
CREATE INDEX tasks_lease_idx ON tasks (tenant_id, lease_expires_at) WHERE status = 'claimed';
CREATE INDEX tasks_status_idx ON tasks (tenant_id, status, created_at DESC);
CREATE INDEX tasks_assignee_idx ON tasks (tenant_id, assignee_agent_id, status) WHERE assignee_agent_id IS NOT NULL;
CREATE INDEX tasks_claimed_by_idx ON tasks (tenant_id, claimed_by_agent_id, status) WHERE claimed_by_agent_id IS NOT NULL;
CREATE INDEX tasks_created_by_idx ON tasks (tenant_id, created_by_agent_id) WHERE created_by_agent_id IS NOT NULL;
CREATE INDEX tasks_client_idx ON tasks (tenant_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX tasks_appointment_idx ON tasks (tenant_id, appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX tasks_invoice_idx ON tasks (tenant_id, invoice_id) WHERE invoice_id IS NOT NULL;
-- Tasks are cancelled, never deleted, by agents.
SELECT bizctx_secure_tenant_table('tasks', 'SELECT, INSERT, UPDATE');

-- Every status change, oldest first (order by id). Written only by trigger.
CREATE TABLE task_events (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    task_id     uuid NOT NULL,
    -- NULL for the creation event.
    from_status text CHECK (from_status IN ('pending', 'awaiting_approval', 'claimed', 'completed',
                                            'failed', 'dead', 'cancelled')),
    to_status   text NOT NULL CHECK (to_status IN ('pending', 'awaiting_approval', 'claimed', 'completed',
                                                   'failed', 'dead', 'cancelled')),
    -- The agent of the transaction (app.agent_id); NULL for operators.
    agent_id    uuid,
    at          timestamptz NOT NULL DEFAULT now(),
    -- attempts, and when relevant lease_expires_at, claimed_by_agent_id, error, run_after.
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX task_events_task_idx ON task_events (tenant_id, task_id, id);
SELECT bizctx_secure_tenant_table('task_events', 'SELECT, INSERT');

CREATE TABLE approval_events (
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                    bigint GENERATED ALWAYS AS IDENTITY,
    task_id               uuid NOT NULL,
    decision              text NOT NULL CHECK (decision IN ('requested', 'approved', 'rejected')),
    requested_by_agent_id uuid,
    -- NULL on 'requested' rows.
    decided_by_agent_id   uuid,
    reason                text,
    at                    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, requested_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (requested_by_agent_id),
    FOREIGN KEY (tenant_id, decided_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (decided_by_agent_id),
    CHECK (decision <> 'requested' OR decided_by_agent_id IS NULL)
);
CREATE INDEX approval_events_task_idx ON approval_events (tenant_id, task_id, id);
SELECT bizctx_secure_tenant_table('approval_events', 'SELECT, INSERT');

-- A task that reached dead, with its row and its history as they were then.
-- Written by trigger when a task becomes dead.
CREATE TABLE dead_letters (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    task_id    uuid NOT NULL,
    -- to_jsonb(tasks row)
    task       jsonb NOT NULL,
    -- task_events of the task as a JSON array, oldest first
    history    jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(history) = 'array'),
    last_error text,
    moved_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, task_id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX dead_letters_moved_idx ON dead_letters (tenant_id, moved_at DESC);
SELECT bizctx_secure_tenant_table('dead_letters', 'SELECT, INSERT');

-- Before a task row is written: the transition rules above, plus
--   * insert: status must be pending or awaiting_approval; requires_approval forces
--     awaiting_approval; pending -> awaiting_approval sets requires_approval;
--   * a claim (into claimed, including a re-claim) must increment attempts, and a
--     re-claim is allowed only once the lease has expired;
--   * failed with attempts >= max_attempts becomes dead;
--   * leaving claimed (or a re-claim) appends {"at","attempt","error"} to errors when
--     it is a failure (failed/dead with last_error, or an expired lease);
--   * completed_at is set on completion; lease_expires_at is cleared off claimed.
CREATE FUNCTION bizctx_tasks_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    reclaim boolean := false;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.requires_approval AND NEW.status = 'pending' THEN
            NEW.status := 'awaiting_approval';
        END IF;
        IF NEW.status NOT IN ('pending', 'awaiting_approval') THEN
            RAISE EXCEPTION 'invalid task status transition: (new) -> %', NEW.status
                USING ERRCODE = 'BZ001';
        END IF;
        NEW.requires_approval := NEW.requires_approval OR NEW.status = 'awaiting_approval';
    ELSE
        IF NEW.status = 'failed' AND OLD.status IS DISTINCT FROM 'failed' AND NEW.attempts >= NEW.max_attempts THEN
            NEW.status := 'dead';
        END IF;
        reclaim := OLD.status = 'claimed' AND NEW.status = 'claimed' AND NEW.attempts > OLD.attempts;
        IF (NEW.status IS DISTINCT FROM OLD.status OR reclaim)
           AND (OLD.status, NEW.status) NOT IN (
                ('pending', 'claimed'), ('pending', 'awaiting_approval'), ('pending', 'cancelled'),
                ('awaiting_approval', 'pending'), ('awaiting_approval', 'cancelled'),
                ('claimed', 'completed'), ('claimed', 'failed'), ('claimed', 'dead'),
                ('claimed', 'pending'), ('claimed', 'claimed'),
                ('failed', 'claimed'), ('failed', 'cancelled'), ('failed', 'dead')) THEN
            RAISE EXCEPTION 'invalid task status transition: % -> %', OLD.status, NEW.status
                USING ERRCODE = 'BZ001';
        END IF;
        IF NEW.status = 'claimed' AND OLD.status IS DISTINCT FROM 'claimed' AND NEW.attempts <= OLD.attempts THEN
            RAISE EXCEPTION 'invalid task status transition: % -> claimed (a claim must increment attempts)', OLD.status
                USING ERRCODE = 'BZ001';
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
        IF NEW.status = 'awaiting_approval' THEN
            NEW.requires_approval := true;
        END IF;
    END IF;

    IF NEW.status = 'completed' THEN
        NEW.completed_at := coalesce(NEW.completed_at, now());
    ELSE
        NEW.completed_at := NULL;
    END IF;
    IF NEW.status <> 'claimed' THEN
        NEW.lease_expires_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_check BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION bizctx_tasks_check();

-- After a task row is written: one task_events row per status change (and per
-- re-claim); on dead, the task and its history are copied to dead_letters.
CREATE FUNCTION bizctx_tasks_record() RETURNS trigger
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
                'run_after', CASE WHEN NEW.status = 'failed' THEN NEW.run_after END,
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
CREATE TRIGGER tasks_record AFTER INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION bizctx_tasks_record();

-- One idempotency store, owned by the guard, for every write tool.
--
-- Why: v1 kept idempotency four ways with two contracts: a key column on each created row
-- (with race code in every handler, and keys shared by every agent of a tenant),
-- appointment_changes, idempotent_results, and tasks.claim_key. A retry under a used key
-- with other arguments sometimes "succeeded" and returned the first result (a 5.00 payment
-- retried under the key of a 1.00 one returned the 1.00 one). Now: a key belongs to one
-- agent and one tool; the guard claims it in the call's own transaction before the handler
-- runs and stores the shaped result before COMMIT. The same key with the same arguments
-- (`fingerprint`: the validated, normalised input) returns the stored result; with other
-- arguments it is a conflict. A concurrent call with the key waits on the primary key for
-- the first to commit (or roll back: a failed call keeps no key). Keys live 30 days.
CREATE TABLE idempotency_keys (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id        uuid NOT NULL,
    tool            text NOT NULL CHECK (length(tool) BETWEEN 1 AND 64),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- sha256 of the call's normalised arguments; NULL for a key carried over from v1,
    -- whose arguments were never recorded: a retry under it is refused, never run again.
    fingerprint     text CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    -- The first call's result as its caller saw it; NULL only inside the claiming
    -- transaction (and for carried-over keys).
    result          jsonb,
    entity_type     text,
    entity_id       text,
    -- The agent's task and mem_docs scopes when the call ran: a replay to an agent whose
    -- scope has narrowed since is refused, since the result may hold rows it can no longer see.
    scopes          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id, tool, idempotency_key),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
-- Expired keys (and the results they keep) are deleted by the agent's next keyed call, and
-- by `bizctx keys prune`.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (tenant_id, agent_id, created_at);
SELECT bizctx_secure_tenant_table('idempotency_keys', 'SELECT, INSERT, UPDATE, DELETE');
-- Keys are one agent's own: another agent's key is not even visible.
CREATE POLICY own_keys ON idempotency_keys AS RESTRICTIVE TO bizctx_app
    USING (agent_id = bizctx_agent()) WITH CHECK (agent_id = bizctx_agent());

-- A replayed call is audited `ok` like the first, and marked.
ALTER TABLE audit_logs ADD COLUMN replayed boolean NOT NULL DEFAULT false;

-- Keys in flight before the upgrade (used in the last 30 days) carry over, so a retry
-- across it never writes twice: for the agent that made the call where the row says so,
-- else (clients record no creator; v1's keys were the whole tenant's) for every agent.
INSERT INTO idempotency_keys (tenant_id, agent_id, tool, idempotency_key, entity_type, entity_id, created_at)
SELECT k.tenant_id, a.id, k.tool, k.idempotency_key, k.entity_type, k.entity_id, k.created_at
FROM (
    SELECT tenant_id, NULL::uuid AS agent_id, 'upsert_client' AS tool, idempotency_key,
           'client' AS entity_type, id::text AS entity_id, created_at
    FROM clients WHERE idempotency_key IS NOT NULL
    UNION ALL
    SELECT tenant_id, agent_id, 'log_interaction', idempotency_key, 'client_interaction', id::text, created_at
    FROM client_interactions WHERE idempotency_key IS NOT NULL
    UNION ALL
    SELECT tenant_id, created_by_agent_id, 'book_appointment', idempotency_key, 'appointment', id::text,
           created_at
    FROM appointments WHERE idempotency_key IS NOT NULL
    UNION ALL
    SELECT tenant_id, agent_id, CASE action WHEN 'reschedule' THEN 'reschedule_appointment'
                                            WHEN 'cancel' THEN 'cancel_appointment'
                                            ELSE 'set_appointment_status' END,
           idempotency_key, 'appointment', appointment_id::text, created_at
    FROM appointment_changes
    UNION ALL
    SELECT tenant_id, created_by_agent_id, 'create_invoice', idempotency_key, 'invoice', id::text, created_at
    FROM invoices WHERE idempotency_key IS NOT NULL
    UNION ALL
    SELECT tenant_id, created_by_agent_id, 'record_payment', idempotency_key, 'invoice', invoice_id::text,
           created_at
    FROM payments WHERE idempotency_key IS NOT NULL
    UNION ALL
    SELECT tenant_id, created_by_agent_id, 'create_task', idempotency_key, 'task', id::text, created_at
    FROM tasks WHERE idempotency_key IS NOT NULL
    UNION ALL
    SELECT tenant_id, claimed_by_agent_id, 'claim_next_task', claim_key, 'task', id::text, updated_at
    FROM tasks WHERE claim_key IS NOT NULL
    UNION ALL
    SELECT tenant_id, owner_agent_id, 'remember', idempotency_key, 'mem_doc', id::text, created_at
    FROM mem_docs WHERE idempotency_key IS NOT NULL
) k
JOIN agents a ON a.tenant_id = k.tenant_id AND (k.agent_id IS NULL OR a.id = k.agent_id)
WHERE k.created_at > now() - interval '30 days'
ON CONFLICT DO NOTHING;

-- idempotent_results' keys were already one agent's own.
INSERT INTO idempotency_keys (tenant_id, agent_id, tool, idempotency_key, created_at)
SELECT tenant_id, agent_id, tool, idempotency_key, created_at
FROM idempotent_results
WHERE created_at > now() - interval '30 days'
ON CONFLICT DO NOTHING;

-- The old mechanisms go.
DROP TABLE idempotent_results;
DROP TABLE appointment_changes;
ALTER TABLE clients DROP COLUMN idempotency_key;
ALTER TABLE client_interactions DROP COLUMN idempotency_key;
ALTER TABLE appointments DROP COLUMN idempotency_key;
ALTER TABLE invoices DROP COLUMN idempotency_key;
ALTER TABLE payments DROP COLUMN idempotency_key;
ALTER TABLE tasks DROP COLUMN idempotency_key, DROP COLUMN claim_key;
ALTER TABLE mem_docs DROP COLUMN idempotency_key;

-- The invoice number no longer needs to survive a replayed insert: a replay never reaches
-- the handler, so every insert that gets a number keeps it.
CREATE OR REPLACE FUNCTION bizctx_invoices_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status IS DISTINCT FROM OLD.status
           AND (OLD.status, NEW.status) NOT IN (
                ('draft', 'open'), ('draft', 'void'),
                ('open', 'partial'), ('open', 'paid'), ('open', 'void'),
                ('partial', 'paid')) THEN
            RAISE EXCEPTION 'invalid invoice status transition: % -> %', OLD.status, NEW.status
                USING ERRCODE = 'BZ001';
        END IF;
        IF OLD.number IS NOT NULL AND NEW.number IS DISTINCT FROM OLD.number THEN
            RAISE EXCEPTION 'invoice % already has its number', OLD.invoice_number
                USING ERRCODE = 'BZ002';
        END IF;
    END IF;

    IF NEW.status <> 'draft' AND NEW.number IS NULL THEN
        INSERT INTO invoice_counters (tenant_id) VALUES (NEW.tenant_id)
            ON CONFLICT (tenant_id) DO NOTHING;
        SELECT next_number INTO n FROM invoice_counters WHERE tenant_id = NEW.tenant_id FOR UPDATE;
        NEW.number := n;
        UPDATE invoice_counters SET next_number = n + 1 WHERE tenant_id = NEW.tenant_id;
    ELSIF NEW.number IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.number IS NULL) THEN
        INSERT INTO invoice_counters AS c (tenant_id, next_number) VALUES (NEW.tenant_id, NEW.number + 1)
            ON CONFLICT (tenant_id) DO UPDATE SET next_number = greatest(c.next_number, excluded.next_number);
    END IF;

    IF NEW.number IS NOT NULL AND NEW.invoice_number IS NULL THEN
        SELECT t.invoice_prefix
               || CASE WHEN NEW.number < 1000000 THEN lpad(NEW.number::text, 6, '0') ELSE NEW.number::text END
          INTO NEW.invoice_number
          FROM tenants t WHERE t.id = NEW.tenant_id;
    END IF;

    IF NEW.status = 'void' THEN
        NEW.voided_at := coalesce(NEW.voided_at, now());
    ELSE
        NEW.voided_at := NULL;
    END IF;
    RETURN NEW;
END
$$;

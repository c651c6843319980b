-- The idempotency key of writes that have no record of their own to find a retry by
-- (set_client_preference, forget, complete_task, fail_task, request_approval,
-- decide_approval): the first call's result, stored in that call's own transaction, so a
-- retry with the same key returns it and writes nothing new. Keys belong to one agent and
-- one tool. `fingerprint` is a hash of the call's other arguments: the same key with
-- different arguments is a conflict, never a silent replay of something else.
CREATE TABLE idempotent_results (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id        uuid NOT NULL,
    tool            text NOT NULL CHECK (length(tool) BETWEEN 1 AND 64),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    fingerprint     text NOT NULL,
    result          jsonb,  -- NULL only until the claiming call stores it, in its transaction
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id, tool, idempotency_key),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
SELECT bizctx_secure_tenant_table('idempotent_results', 'SELECT, INSERT, UPDATE');

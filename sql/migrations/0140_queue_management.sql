-- Queue management (issue 18): subtasks, cancelling with a reason, and bringing a dead task
-- back.
--
-- A dead task retried goes back to pending with its attempts reset (a trigger does the reset,
-- so no caller can revive a task that would die again on its first failure) and its dead
-- letter marked processed. A task may die again after that: each death keeps its own dead
-- letter, so (task) is unique only among the unprocessed ones.

ALTER TABLE tasks
    ADD COLUMN parent_task_id uuid,
    ADD COLUMN cancel_reason text CHECK (length(cancel_reason) BETWEEN 1 AND 1000),
    ADD CONSTRAINT tasks_parent_fk FOREIGN KEY (tenant_id, parent_task_id) REFERENCES tasks (tenant_id, id),
    ADD CONSTRAINT tasks_not_own_parent CHECK (parent_task_id <> id);
CREATE INDEX tasks_parent_idx ON tasks (tenant_id, parent_task_id, status) WHERE parent_task_id IS NOT NULL;

-- The row agents see gains the parent, the reason of a cancel, and its subtasks as counts
-- (those the caller's scope shows: security_invoker).
CREATE OR REPLACE VIEW task_rows WITH (security_invoker = true) AS
SELECT tenant_id, id, type, title, payload, priority, status, requires_approval, assignee_agent_id,
       created_by_agent_id, claimed_by_agent_id, lease_expires_at, attempts, max_attempts, run_after,
       due_at, last_error, errors, result, client_id, appointment_id, invoice_id, completed_at,
       created_at, updated_at, parent_task_id, cancel_reason,
       (SELECT count(*) FROM tasks c WHERE c.tenant_id = tasks.tenant_id AND c.parent_task_id = tasks.id)
           AS subtasks_total,
       (SELECT count(*) FROM tasks c WHERE c.tenant_id = tasks.tenant_id AND c.parent_task_id = tasks.id
                                     AND c.status = 'completed') AS subtasks_done
FROM tasks;

INSERT INTO task_transitions (from_status, to_status, task_type) VALUES ('dead', 'pending', NULL);

CREATE FUNCTION bizctx_tasks_revive() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.attempts := 0;
    NEW.run_after := now();
    NEW.last_error := NULL;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_revive BEFORE UPDATE ON tasks
    FOR EACH ROW WHEN (OLD.status = 'dead' AND NEW.status = 'pending') EXECUTE FUNCTION bizctx_tasks_revive();

ALTER TABLE dead_letters
    DROP CONSTRAINT dead_letters_tenant_id_task_id_key,
    ADD COLUMN processed_at timestamptz,
    ADD COLUMN processed_by_agent_id uuid,
    ADD CONSTRAINT dead_letters_processed_by_fk FOREIGN KEY (tenant_id, processed_by_agent_id)
        REFERENCES agents (tenant_id, id) ON DELETE SET NULL (processed_by_agent_id);
CREATE UNIQUE INDEX dead_letters_open_idx ON dead_letters (tenant_id, task_id) WHERE processed_at IS NULL;
CREATE INDEX dead_letters_task_idx ON dead_letters (tenant_id, task_id, moved_at);
GRANT UPDATE (processed_at, processed_by_agent_id) ON dead_letters TO bizctx_app;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('cancel_task', 'tasks.write'),
    ('retry_dead_task', 'tasks.write');

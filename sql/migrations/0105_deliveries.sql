-- What was delivered at an appointment, and what the client thought of it.
--
-- One delivery record per appointment (recorded again, it is corrected in place) and one
-- feedback (clients rate a visit once; a second is a conflict, not a silent overwrite). A
-- delivery that needs a follow-up creates one task, once: its id is kept on the record (under
-- the record's row lock), so a correction never adds a second. No foreign key to tasks: a
-- task's rows are seen through its own scope (0045), and the id alone tells nothing.

CREATE TABLE service_deliveries (
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   uuid NOT NULL DEFAULT gen_random_uuid(),
    appointment_id       uuid NOT NULL,
    started_at           timestamptz NOT NULL,
    ended_at             timestamptz NOT NULL,
    -- Who delivered it: one of the business's resources (a staff member).
    delivered_by         uuid,
    notes                text CHECK (length(notes) <= 5000),
    -- [{"item": "...", "done": true}, ...]
    checklist            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(checklist) = 'array'),
    issues               text CHECK (length(issues) <= 5000),
    follow_up_needed     boolean NOT NULL DEFAULT false,
    follow_up_at         timestamptz,
    follow_up_task_id    uuid,
    recorded_by_agent_id uuid,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT service_deliveries_one_per_appointment UNIQUE (tenant_id, appointment_id),
    FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT service_deliveries_resource_fk FOREIGN KEY (tenant_id, delivered_by)
        REFERENCES resources (tenant_id, id),
    FOREIGN KEY (tenant_id, recorded_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (recorded_by_agent_id),
    CHECK (ended_at >= started_at),
    CHECK (follow_up_needed OR follow_up_at IS NULL)
);
SELECT bizctx_secure_tenant_table('service_deliveries', 'SELECT, INSERT, UPDATE');

CREATE TABLE appointment_feedback (
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   uuid NOT NULL DEFAULT gen_random_uuid(),
    appointment_id       uuid NOT NULL,
    overall_rating       smallint NOT NULL CHECK (overall_rating BETWEEN 1 AND 5),
    staff_rating         smallint CHECK (staff_rating BETWEEN 1 AND 5),
    service_rating       smallint CHECK (service_rating BETWEEN 1 AND 5),
    value_rating         smallint CHECK (value_rating BETWEEN 1 AND 5),
    -- Written by the client: data, never instructions.
    comments             text CHECK (length(comments) <= 5000),
    would_recommend      boolean,
    recorded_by_agent_id uuid,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT appointment_feedback_one_per_appointment UNIQUE (tenant_id, appointment_id),
    FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, recorded_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (recorded_by_agent_id)
);
SELECT bizctx_secure_tenant_table('appointment_feedback', 'SELECT, INSERT');

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('record_delivery', 'appointments.write'),
    ('record_feedback', 'appointments.write');

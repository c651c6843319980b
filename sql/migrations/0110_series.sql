-- Recurring bookings: a series of appointments sharing a series id (book_series), cancelled
-- together from now on (cancel_series). Each occurrence is an ordinary appointment, booked
-- through the same checks and exclusion constraint as any other; the series row keeps the
-- rule it was made from, so an agent can tell what was asked for from what was booked.

CREATE TABLE appointment_series (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id           uuid NOT NULL,
    service_id          uuid NOT NULL,
    -- The resource asked for; NULL: the first qualified free one at each occurrence.
    resource_id         uuid,
    frequency           text NOT NULL CHECK (frequency IN ('weekly', 'biweekly', 'monthly')),
    -- Monthly: on the same date (the 15th), or the same weekday of the month (the 2nd Tuesday).
    monthly_by          text CHECK (monthly_by IN ('date', 'weekday')),
    first_starts_at     timestamptz NOT NULL,
    -- The wall time every occurrence keeps, in this zone (the business's), across DST changes.
    time_zone           text NOT NULL,
    until_date          date,
    occurrences         integer CHECK (occurrences BETWEEN 1 AND 52),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    cancel_reason       text CHECK (length(cancel_reason) <= 1000),
    cancelled_at        timestamptz,
    created_by_agent_id uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    CHECK ((frequency = 'monthly') = (monthly_by IS NOT NULL)),
    CHECK ((until_date IS NULL) <> (occurrences IS NULL)),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
SELECT bizctx_secure_tenant_table('appointment_series', 'SELECT, INSERT, UPDATE');

ALTER TABLE appointments ADD COLUMN series_id uuid;
ALTER TABLE appointments ADD CONSTRAINT appointments_series_fk
    FOREIGN KEY (tenant_id, series_id) REFERENCES appointment_series (tenant_id, id);
CREATE INDEX appointments_series_idx ON appointments (tenant_id, series_id, starts_at) WHERE series_id IS NOT NULL;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('book_series', 'appointments.write'),
    ('cancel_series', 'appointments.write');

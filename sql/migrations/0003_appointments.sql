-- Appointments: the service catalog, the resources that deliver it (staff, equipment,
-- rooms, vehicles) and when they work, and the bookings themselves. The database
-- guarantees that a resource is never double-booked (exclusion constraint on
-- appointment_resources) and that appointment statuses only move forward.

CREATE TABLE services (
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                    uuid NOT NULL DEFAULT gen_random_uuid(),
    code                  text NOT NULL CHECK (length(btrim(code)) BETWEEN 1 AND 50),
    name                  text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description           text,
    duration_minutes      integer NOT NULL CHECK (duration_minutes > 0 AND duration_minutes <= 10080),
    price                 numeric(18, 4) NOT NULL DEFAULT 0 CHECK (price >= 0),
    currency              char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Every one of these must be among a booked resource's capabilities.
    required_capabilities text[] NOT NULL DEFAULT '{}' CHECK (array_position(required_capabilities, NULL) IS NULL),
    active                boolean NOT NULL DEFAULT true,
    external_ref          text CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, external_ref)
);
CREATE INDEX services_active_idx ON services (tenant_id, name) WHERE active;
-- Retire a service with active = false; agents cannot delete.
SELECT bizctx_secure_tenant_table('services', 'SELECT, INSERT, UPDATE');

CREATE TABLE resources (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    kind         text NOT NULL CHECK (kind IN ('staff', 'equipment', 'room', 'vehicle')),
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    capabilities text[] NOT NULL DEFAULT '{}' CHECK (array_position(capabilities, NULL) IS NULL),
    active       boolean NOT NULL DEFAULT true,
    -- Zone of the weekly hours in resource_availability; NULL means the tenant's
    -- business time zone.
    time_zone    text CHECK (time_zone IS NULL OR bizctx_is_time_zone(time_zone)),
    email        text CHECK (length(email) <= 320),
    external_ref text CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, external_ref)
);
CREATE INDEX resources_kind_idx ON resources (tenant_id, kind, name) WHERE active;
-- Resources able to deliver a service: capabilities @> service.required_capabilities.
CREATE INDEX resources_capabilities_idx ON resources USING gin (capabilities);
SELECT bizctx_secure_tenant_table('resources', 'SELECT, INSERT, UPDATE');

-- Weekly working hours, in the resource's time zone (else the tenant's).
-- weekday is ISO 8601: 1 = Monday ... 7 = Sunday, i.e. extract(isodow FROM local_date).
-- end_time may be '24:00' (end of day); a shift past midnight is two rows.
-- Several rows per resource and day are allowed (split shifts); they are unioned.
CREATE TABLE resource_availability (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    resource_id uuid NOT NULL,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_time  time NOT NULL,
    end_time    time NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE,
    CHECK (end_time > start_time)
);
CREATE INDEX resource_availability_resource_idx ON resource_availability (tenant_id, resource_id, weekday, start_time);
SELECT bizctx_secure_tenant_table('resource_availability');

-- Time off, repairs, closures: the resource is not bookable during this range.
CREATE TABLE resource_unavailability (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    resource_id uuid NOT NULL,
    during      tstzrange NOT NULL CHECK (NOT isempty(during) AND NOT lower_inf(during)),
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id) ON DELETE CASCADE
);
-- tenant_id = $t AND resource_id = ANY($r) AND during && tstzrange($from, $to)
CREATE INDEX resource_unavailability_during_idx ON resource_unavailability
    USING gist (tenant_id, resource_id, during);
SELECT bizctx_secure_tenant_table('resource_unavailability');

CREATE TABLE appointments (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id           uuid NOT NULL,
    service_id          uuid NOT NULL,
    -- scheduled -> confirmed -> in_progress -> completed; cancelled and no_show end it.
    -- Transitions are checked by bizctx_appointments_check (SQLSTATE BZ001).
    status              text NOT NULL DEFAULT 'scheduled'
                            CHECK (status IN ('scheduled', 'confirmed', 'in_progress', 'completed',
                                              'cancelled', 'no_show')),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL,
    -- Free text (e.g. "Room 2", "client's home"); address_id when it is a client address.
    location            text,
    address_id          uuid,
    notes               text,
    -- Price agreed for this booking (a snapshot; the catalog may change later).
    price               numeric(18, 4) CHECK (price >= 0),
    currency            char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    -- Set automatically when the status becomes cancelled.
    cancelled_at        timestamptz,
    cancellation_reason text,
    idempotency_key     text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    created_by_agent_id uuid,
    external_ref        text CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, idempotency_key),
    UNIQUE (tenant_id, external_ref),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
    -- The address must belong to the appointment's own client.
    FOREIGN KEY (tenant_id, client_id, address_id) REFERENCES client_addresses (tenant_id, client_id, id)
        ON DELETE SET NULL (address_id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    CHECK (ends_at > starts_at),
    CHECK ((price IS NULL) = (currency IS NULL)),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX appointments_starts_idx ON appointments (tenant_id, starts_at);
CREATE INDEX appointments_status_idx ON appointments (tenant_id, status, starts_at);
CREATE INDEX appointments_client_idx ON appointments (tenant_id, client_id, starts_at DESC);
CREATE INDEX appointments_service_idx ON appointments (tenant_id, service_id);
-- Overlap queries: tstzrange(starts_at, ends_at) && tstzrange($from, $to) (use this exact expression).
CREATE INDEX appointments_during_idx ON appointments USING gist (tenant_id, tstzrange(starts_at, ends_at));
SELECT bizctx_secure_tenant_table('appointments', 'SELECT, INSERT, UPDATE');

-- Which resources an appointment holds. during and active are derived from the
-- appointment by trigger (never set them yourself): during = [starts_at, ends_at),
-- active = status NOT IN ('cancelled', 'no_show'). Only active rows take part in
-- the exclusion constraint, so cancelling frees the resource. An overlapping
-- booking or reschedule fails with SQLSTATE 23P01 (exclusion_violation) on
-- constraint appointment_resources_no_double_booking.
CREATE TABLE appointment_resources (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    appointment_id uuid NOT NULL,
    resource_id    uuid NOT NULL,
    during         tstzrange NOT NULL CHECK (NOT isempty(during)),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, appointment_id, resource_id),
    FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id),
    CONSTRAINT appointment_resources_no_double_booking
        EXCLUDE USING gist (tenant_id WITH =, resource_id WITH =, during WITH &&) WHERE (active)
);
CREATE INDEX appointment_resources_resource_idx ON appointment_resources (tenant_id, resource_id);
SELECT bizctx_secure_tenant_table('appointment_resources');

-- Keeps during/active equal to the appointment's, on insert and on any update.
CREATE FUNCTION bizctx_appointment_resources_derive() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    SELECT starts_at, ends_at, status INTO a
      FROM appointments
     WHERE tenant_id = NEW.tenant_id AND id = NEW.appointment_id;
    IF FOUND THEN
        NEW.during := tstzrange(a.starts_at, a.ends_at);
        NEW.active := a.status NOT IN ('cancelled', 'no_show');
    END IF;  -- else the foreign key reports the missing appointment
    RETURN NEW;
END
$$;
CREATE TRIGGER appointment_resources_derive BEFORE INSERT OR UPDATE ON appointment_resources
    FOR EACH ROW EXECUTE FUNCTION bizctx_appointment_resources_derive();

CREATE TABLE appointment_reminders (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    appointment_id uuid NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('email', 'sms', 'phone')),
    send_at        timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'sent', 'skipped', 'cancelled', 'failed')),
    sent_at        timestamptz,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, appointment_id, channel, send_at),
    FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id) ON DELETE CASCADE,
    CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);
-- Due reminders: status = 'pending' AND send_at <= now().
CREATE INDEX appointment_reminders_due_idx ON appointment_reminders (tenant_id, send_at) WHERE status = 'pending';
SELECT bizctx_secure_tenant_table('appointment_reminders');

-- Status rules, checked before the row is written:
--   scheduled   -> confirmed | in_progress | cancelled | no_show
--   confirmed   -> in_progress | cancelled | no_show
--   in_progress -> completed
--   completed, cancelled, no_show: final.
-- Any other change of status raises SQLSTATE BZ001 'invalid appointment status
-- transition: X -> Y'. Moving the times of a completed, cancelled or no_show
-- appointment raises BZ002. Inserts may use any status (imports of history).
-- cancelled_at is filled in when the status becomes cancelled.
CREATE FUNCTION bizctx_appointments_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status IS DISTINCT FROM OLD.status
           AND (OLD.status, NEW.status) NOT IN (
                ('scheduled', 'confirmed'), ('scheduled', 'in_progress'),
                ('scheduled', 'cancelled'), ('scheduled', 'no_show'),
                ('confirmed', 'in_progress'), ('confirmed', 'cancelled'), ('confirmed', 'no_show'),
                ('in_progress', 'completed')) THEN
            RAISE EXCEPTION 'invalid appointment status transition: % -> %', OLD.status, NEW.status
                USING ERRCODE = 'BZ001';
        END IF;
        IF OLD.status IN ('completed', 'cancelled', 'no_show')
           AND (NEW.starts_at IS DISTINCT FROM OLD.starts_at OR NEW.ends_at IS DISTINCT FROM OLD.ends_at) THEN
            RAISE EXCEPTION 'cannot reschedule a % appointment', OLD.status
                USING ERRCODE = 'BZ002';
        END IF;
    END IF;
    IF NEW.status = 'cancelled' THEN
        NEW.cancelled_at := coalesce(NEW.cancelled_at, now());
    ELSE
        NEW.cancelled_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER appointments_check BEFORE INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION bizctx_appointments_check();

-- After a reschedule or a status change: the held resources follow (a reschedule
-- into a taken slot fails here with 23P01), pending reminders move with the start
-- time, and cancelled / no_show release the resources and cancel pending reminders.
CREATE FUNCTION bizctx_appointments_sync() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE appointment_resources
       SET during = tstzrange(NEW.starts_at, NEW.ends_at),
           active = NEW.status NOT IN ('cancelled', 'no_show')
     WHERE tenant_id = NEW.tenant_id AND appointment_id = NEW.id;

    IF NEW.status IN ('cancelled', 'no_show') THEN
        UPDATE appointment_reminders
           SET status = 'cancelled'
         WHERE tenant_id = NEW.tenant_id AND appointment_id = NEW.id AND status = 'pending';
    ELSIF NEW.starts_at IS DISTINCT FROM OLD.starts_at THEN
        UPDATE appointment_reminders
           SET send_at = send_at + (NEW.starts_at - OLD.starts_at)
         WHERE tenant_id = NEW.tenant_id AND appointment_id = NEW.id AND status = 'pending';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER appointments_sync AFTER UPDATE OF starts_at, ends_at, status ON appointments
    FOR EACH ROW
    WHEN (OLD.starts_at IS DISTINCT FROM NEW.starts_at OR OLD.ends_at IS DISTINCT FROM NEW.ends_at
          OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION bizctx_appointments_sync();

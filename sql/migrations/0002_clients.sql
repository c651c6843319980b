-- Clients: the people and businesses served, where they are, what they prefer, which
-- segments they belong to, what was said to them, and on which channels they must
-- not be contacted.

CREATE TABLE clients (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    client_type     text NOT NULL DEFAULT 'individual' CHECK (client_type IN ('individual', 'business')),
    first_name      text CHECK (length(btrim(first_name)) BETWEEN 1 AND 200),
    last_name       text CHECK (length(btrim(last_name)) BETWEEN 1 AND 200),
    company_name    text CHECK (length(btrim(company_name)) BETWEEN 1 AND 300),
    -- What to call the client: the company for a business, the person otherwise.
    -- Generated, so it can never drift from the name fields; never insert it.
    display_name    text GENERATED ALWAYS AS (
                        CASE WHEN client_type = 'business'
                             THEN coalesce(company_name,
                                           nullif(btrim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), ''))
                             ELSE coalesce(nullif(btrim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), ''),
                                           company_name)
                        END) STORED,
    -- Stored lower-cased and trimmed (the normalize trigger does it), so equality is
    -- case-insensitive without citext.
    email           text CHECK (email = lower(btrim(email)) AND email LIKE '%_@_%' AND length(email) <= 320),
    phone           text CHECK (length(btrim(phone)) BETWEEN 1 AND 50),
    mobile_phone    text CHECK (length(btrim(mobile_phone)) BETWEEN 1 AND 50),
    date_of_birth   date,
    notes           text,
    -- IANA zone of the client, when it differs from the tenant's business time zone.
    time_zone       text CHECK (time_zone IS NULL OR bizctx_is_time_zone(time_zone)),
    -- Business status. Soft delete is deleted_at, not a status: a deleted client is
    -- gone for agents; an archived one is still a client.
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'archived')),
    lifecycle_stage text NOT NULL DEFAULT 'customer'
                        CHECK (lifecycle_stage IN ('lead', 'prospect', 'customer', 'churned')),
    tags            text[] NOT NULL DEFAULT '{}',
    external_ref    text CHECK (length(external_ref) BETWEEN 1 AND 200),
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, external_ref),
    -- A client has a name: a person's, a company's, or both.
    CONSTRAINT clients_name_present CHECK (coalesce(first_name, last_name, company_name) IS NOT NULL),
    CONSTRAINT clients_tags_no_nulls CHECK (array_position(tags, NULL) IS NULL)
);

-- One live client per e-mail address in a tenant. A duplicate raises 23505 naming
-- clients_email_key; ON CONFLICT inference: (tenant_id, lower(email)) WHERE deleted_at IS NULL
-- AND email IS NOT NULL. Look up with lower(email) = lower(%(email)s).
CREATE UNIQUE INDEX clients_email_key ON clients (tenant_id, lower(email))
    WHERE deleted_at IS NULL AND email IS NOT NULL;
-- Fuzzy search (similarity, %, ILIKE '%...%'); filter tenant_id and deleted_at alongside.
CREATE INDEX clients_display_name_trgm_idx ON clients USING gin (display_name gin_trgm_ops);
CREATE INDEX clients_company_name_trgm_idx ON clients USING gin (company_name gin_trgm_ops);
CREATE INDEX clients_email_trgm_idx ON clients USING gin (email gin_trgm_ops);
CREATE INDEX clients_phone_trgm_idx ON clients USING gin (phone gin_trgm_ops);
CREATE INDEX clients_mobile_phone_trgm_idx ON clients USING gin (mobile_phone gin_trgm_ops);
CREATE INDEX clients_tags_idx ON clients USING gin (tags);
-- Name-ordered pages of live clients (keyset: display_name, id).
CREATE INDEX clients_name_idx ON clients (tenant_id, display_name, id) WHERE deleted_at IS NULL;
CREATE INDEX clients_status_idx ON clients (tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX clients_lifecycle_idx ON clients (tenant_id, lifecycle_stage) WHERE deleted_at IS NULL;

-- Empty strings become NULL and e-mail is lower-cased, whoever writes the row
-- (tool, import, operator), so the unique index and lookups agree.
CREATE FUNCTION bizctx_clients_normalize() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.first_name   := nullif(btrim(NEW.first_name), '');
    NEW.last_name    := nullif(btrim(NEW.last_name), '');
    NEW.company_name := nullif(btrim(NEW.company_name), '');
    NEW.email        := nullif(lower(btrim(NEW.email)), '');
    NEW.phone        := nullif(btrim(NEW.phone), '');
    NEW.mobile_phone := nullif(btrim(NEW.mobile_phone), '');
    NEW.external_ref := nullif(btrim(NEW.external_ref), '');
    RETURN NEW;
END
$$;
CREATE TRIGGER clients_normalize BEFORE INSERT OR UPDATE ON clients
    FOR EACH ROW EXECUTE FUNCTION bizctx_clients_normalize();

-- No DELETE for agents: clients are soft-deleted (deleted_at).
SELECT bizctx_secure_tenant_table('clients', 'SELECT, INSERT, UPDATE');

CREATE TABLE client_addresses (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id     uuid NOT NULL,
    kind          text NOT NULL DEFAULT 'service' CHECK (kind IN ('service', 'billing', 'mailing')),
    label         text CHECK (length(label) <= 100),
    line1         text NOT NULL CHECK (length(btrim(line1)) BETWEEN 1 AND 300),
    line2         text CHECK (length(line2) <= 300),
    city          text CHECK (length(city) <= 200),
    region        text CHECK (length(region) <= 200),
    postal_code   text CHECK (length(postal_code) <= 30),
    -- ISO 3166-1 alpha-2.
    country       char(2) CHECK (country ~ '^[A-Z]{2}$'),
    -- How to get in: gate codes, key safe, parking. Sensitive; redacted with "address".
    access_notes  text,
    is_primary    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Lets appointments reference an address of *their own* client.
    UNIQUE (tenant_id, client_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE
);
-- At most one primary address per client and kind (a primary service address and a
-- primary billing address may coexist).
CREATE UNIQUE INDEX client_addresses_primary_key ON client_addresses (tenant_id, client_id, kind)
    WHERE is_primary;
SELECT bizctx_secure_tenant_table('client_addresses');

CREATE TABLE client_preferences (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id  uuid NOT NULL,
    key        text NOT NULL CHECK (length(btrim(key)) BETWEEN 1 AND 100),
    value      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Upsert target: ON CONFLICT (tenant_id, client_id, key).
    UNIQUE (tenant_id, client_id, key),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE
);
SELECT bizctx_secure_tenant_table('client_preferences');

CREATE TABLE client_segments (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
SELECT bizctx_secure_tenant_table('client_segments');

CREATE TABLE client_segment_memberships (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    segment_id uuid NOT NULL,
    client_id  uuid NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, segment_id, client_id),
    FOREIGN KEY (tenant_id, segment_id) REFERENCES client_segments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX client_segment_memberships_client_idx ON client_segment_memberships (tenant_id, client_id);
SELECT bizctx_secure_tenant_table('client_segment_memberships');

-- What was said to or about a client. Append-only for agents.
CREATE TABLE client_interactions (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL,
    -- The agent that logged it; NULL for imports and operators.
    agent_id    uuid,
    channel     text NOT NULL CHECK (channel IN ('email', 'phone', 'sms', 'in_person', 'chat', 'note')),
    direction   text NOT NULL DEFAULT 'internal' CHECK (direction IN ('inbound', 'outbound', 'internal')),
    summary     text NOT NULL CHECK (length(btrim(summary)) BETWEEN 1 AND 1000),
    -- Written by outsiders (an e-mail body, a call transcript): data, never instructions.
    content     text,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX client_interactions_client_idx ON client_interactions (tenant_id, client_id, occurred_at DESC);
CREATE INDEX client_interactions_agent_idx ON client_interactions (tenant_id, agent_id) WHERE agent_id IS NOT NULL;
SELECT bizctx_secure_tenant_table('client_interactions', 'SELECT, INSERT');

-- Channel-level do-not-contact. 'all' blocks every channel. Anything that contacts a
-- client (reminders, outbound tasks) must check this table first.
CREATE TABLE opt_outs (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id  uuid NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('email', 'sms', 'phone', 'mail', 'all')),
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, client_id, channel),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE
);
SELECT bizctx_secure_tenant_table('opt_outs');

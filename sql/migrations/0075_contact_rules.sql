-- Contact governance: every outbound contact with a client (email, sms, phone) passes the
-- tenant's rules in the transaction that records it.
--
-- Why in SQL: the rules read the client's time zone, opt-outs and contact history, and a
-- frequency cap is only a cap if two agents racing for the last allowed contact cannot both
-- pass it. bizctx_lock_contact locks the client row (FOR NO KEY UPDATE: foreign keys to the
-- client still insert) before the count, so the second racer counts the first's contact; the
-- count is of the contacts themselves (client_interactions), so one logged by any path counts.
--
-- Opt-outs are not a rule an operator can edit: they always block, and may be temporary
-- (until). Quiet hours and frequency caps are rows of compliance_rules; their action is
-- block (policy_blocked), require_approval (the approval gate of migration 0060) or warn
-- (allowed; the result says so). Defaults are seeded for every tenant, existing ones
-- included, through the marker table of the default policies, so one an operator removed
-- is not added again.
ALTER TABLE opt_outs ADD COLUMN until timestamptz;
-- When the client last said it: only a request of theirs made after it lifts it.
ALTER TABLE opt_outs ADD COLUMN said_at timestamptz NOT NULL DEFAULT now();

-- The reminder outbox (tools/contacts.py): a due reminder is leased to one agent at a time,
-- like a task (lease, expiry, attempts); the agent holding it sends it and completes it (sent
-- or failed). A leased reminder counts against the frequency caps from the moment it is
-- leased, so two agents cannot between them send more than a cap allows. skipped_rule: the
-- rule that skipped it (an opt-out at send time).
ALTER TABLE appointment_reminders
    DROP CONSTRAINT appointment_reminders_status_check,
    ADD CONSTRAINT appointment_reminders_status_check
        CHECK (status IN ('pending', 'leased', 'sent', 'skipped', 'cancelled', 'failed')),
    ADD COLUMN leased_by_agent_id uuid,
    ADD COLUMN leased_at timestamptz,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 100),
    ADD COLUMN skipped_rule text,
    ADD COLUMN interaction_id uuid,
    ADD CONSTRAINT appointment_reminders_lease CHECK (
        (status = 'leased') = (leased_by_agent_id IS NOT NULL AND lease_expires_at IS NOT NULL));
-- Leases that ran out, claimable again.
CREATE INDEX appointment_reminders_lease_idx ON appointment_reminders (tenant_id, lease_expires_at)
    WHERE status = 'leased';

-- What kind of contact an outbound interaction was (transactional reminders, collections,
-- marketing, other), for the rules that name categories; NULL for the rest.
ALTER TABLE client_interactions ADD COLUMN category text
    CHECK (category IN ('reminder', 'collections', 'marketing', 'other'));

-- A refused or held call keeps, as evidence in its audit row, the rule or policy that did it
-- (its error's `rule`: a rule's name, or the policy as described to the agent).
ALTER TABLE audit_logs ADD COLUMN rule jsonb;

-- An opt-out never gets shorter by being said again: one for good stays for good, a later
-- end wins, and only one that has already ended is replaced. Both opt-out tables use it.
CREATE FUNCTION bizctx_longer_opt_out(p_old timestamptz, p_new timestamptz) RETURNS timestamptz
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_old IS NOT NULL AND p_old <= now() THEN p_new
                WHEN p_old IS NULL OR p_new IS NULL THEN NULL
                ELSE greatest(p_old, p_new) END
$$;

-- Opt-outs are also kept by address (the e-mail, the phone number), so a client deleted and
-- created again, or a duplicate record of the same person, stays suppressed. Kept when the
-- client goes (no foreign key to it: a suppression list outlives the record), for every
-- address the client has while the opt-out stands (one added later too), and lifted only
-- with the opt-out of the client that said it, by the same opt-in (remove_opt_out.sql).
--
-- A phone number is kept as its last ten digits: the same number written with or without
-- its country code or an international prefix (+1 555..., 001 555..., (555) ...) is one
-- number; two numbers sharing their last ten digits are rare, and treating them as one errs
-- on the side of not contacting.
CREATE FUNCTION bizctx_phone_digits(p_phone text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(right(regexp_replace(p_phone, '\D', '', 'g'), 10), '') $$;

CREATE TABLE opt_out_addresses (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel    text NOT NULL CHECK (channel IN ('email', 'sms', 'phone', 'all')),
    -- An e-mail as clients store it (lower-cased), or a phone number's last ten digits.
    address    text NOT NULL CHECK (length(address) BETWEEN 1 AND 320),
    until      timestamptz,
    reason     text,
    -- The client whose opt-out keeps it (the last to say it): only their opt-in lifts it.
    client_id  uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel, address)
);
SELECT bizctx_secure_tenant_table('opt_out_addresses', 'SELECT, INSERT, UPDATE, DELETE');

CREATE FUNCTION bizctx_keep_opt_out_addresses() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO opt_out_addresses (tenant_id, channel, address, until, reason, client_id)
    SELECT NEW.tenant_id, NEW.channel, a.address, NEW.until, NEW.reason, NEW.client_id
      FROM clients c
     CROSS JOIN LATERAL (VALUES
               (CASE WHEN NEW.channel IN ('email', 'all') THEN c.email END),
               (CASE WHEN NEW.channel IN ('sms', 'phone', 'all') THEN bizctx_phone_digits(c.phone) END),
               (CASE WHEN NEW.channel IN ('sms', 'phone', 'all') THEN bizctx_phone_digits(c.mobile_phone) END)
           ) a (address)
     WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.client_id AND a.address IS NOT NULL
    ON CONFLICT (tenant_id, channel, address) DO UPDATE
       SET until = bizctx_longer_opt_out(opt_out_addresses.until, EXCLUDED.until),
           reason = coalesce(EXCLUDED.reason, opt_out_addresses.reason),
           client_id = EXCLUDED.client_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER keep_opt_out_addresses AFTER INSERT OR UPDATE ON opt_outs
    FOR EACH ROW EXECUTE FUNCTION bizctx_keep_opt_out_addresses();

-- A client given an e-mail or phone while opted out: the new address is kept too.
CREATE FUNCTION bizctx_keep_new_addresses() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opt_outs SET reason = reason
     WHERE tenant_id = NEW.tenant_id AND client_id = NEW.id AND (until IS NULL OR until > now());
    RETURN NULL;
END
$$;
CREATE TRIGGER keep_new_addresses AFTER UPDATE OF email, phone, mobile_phone ON clients
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email OR OLD.phone IS DISTINCT FROM NEW.phone
                       OR OLD.mobile_phone IS DISTINCT FROM NEW.mobile_phone)
    EXECUTE FUNCTION bizctx_keep_new_addresses();

-- Opt-outs recorded before this migration are kept by address too.
UPDATE opt_outs SET reason = reason;

CREATE TABLE compliance_rules (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    name          text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,59}$'),
    kind          text NOT NULL CHECK (kind IN ('quiet_hours', 'frequency_cap')),
    channels      text[] NOT NULL
                      CHECK (cardinality(channels) > 0 AND channels <@ ARRAY['email', 'sms', 'phone']),
    action        text NOT NULL CHECK (action IN ('block', 'require_approval', 'warn')),
    -- quiet_hours: contact only from allowed_from to allowed_until, the client's local time.
    allowed_from  time,
    allowed_until time,
    -- frequency_cap: at most max_contacts outbound per client and channel in window_days.
    max_contacts  integer CHECK (max_contacts BETWEEN 1 AND 1000),
    window_days   integer CHECK (window_days BETWEEN 1 AND 366),
    reason        text CHECK (length(reason) <= 500),
    -- The kinds of contact it governs (NULL: every kind); a cap naming some counts only those.
    categories    text[] CHECK (categories IS NULL OR (cardinality(categories) > 0
                                AND categories <@ ARRAY['reminder', 'collections', 'marketing', 'other'])),
    default_key   text,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT compliance_rules_name_key UNIQUE (tenant_id, name),
    CONSTRAINT compliance_rules_shape CHECK (
        (kind = 'quiet_hours' AND allowed_from < allowed_until
             AND max_contacts IS NULL AND window_days IS NULL)
        OR (kind = 'frequency_cap' AND max_contacts IS NOT NULL AND window_days IS NOT NULL
             AND allowed_from IS NULL AND allowed_until IS NULL))
);
SELECT bizctx_secure_tenant_table('compliance_rules', 'SELECT');

CREATE FUNCTION bizctx_apply_default_contact_rules(p_tenant_id uuid) RETURNS void
    LANGUAGE sql AS $$
    WITH defaults (default_key, name, kind, channels, allowed_from, allowed_until, max_contacts, window_days) AS (
        VALUES ('quiet_hours', 'quiet_hours', 'quiet_hours', ARRAY['phone', 'sms'],
                time '08:00', time '21:00', NULL::integer, NULL::integer),
               ('frequency_cap', 'frequency_cap', 'frequency_cap', ARRAY['email', 'sms', 'phone'],
                NULL::time, NULL::time, 3, 7)
    ),
    fresh AS (
        INSERT INTO policy_defaults_applied (tenant_id, default_key)
        SELECT p_tenant_id, 'contact_rule:' || d.default_key FROM defaults d
        ON CONFLICT DO NOTHING
        RETURNING default_key
    )
    INSERT INTO compliance_rules (tenant_id, name, kind, channels, action, allowed_from, allowed_until,
                                  max_contacts, window_days, default_key, created_by)
    SELECT p_tenant_id, d.name, d.kind, d.channels, 'block', d.allowed_from, d.allowed_until,
           d.max_contacts, d.window_days, d.default_key, 'bizctx defaults'
    FROM defaults d JOIN fresh f ON f.default_key = 'contact_rule:' || d.default_key
$$;

CREATE OR REPLACE FUNCTION bizctx_tenant_defaults() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bizctx_apply_default_policies(NEW.id);
    PERFORM bizctx_apply_default_contact_rules(NEW.id);
    RETURN NULL;
END
$$;

SELECT bizctx_apply_default_contact_rules(id) FROM tenants;

-- Every rule a contact of this client on this channel at p_at would break: the opt-outs in
-- force, the quiet hours it falls in, the caps it would exceed. next_allowed_at: when waiting
-- would help (none for a permanent opt-out). A rule naming categories applies to a contact of
-- one of them, and to one of no stated category (asking without one errs on the side of the
-- client). Runs as the caller: RLS applies.
CREATE FUNCTION bizctx_contact_rules_broken(p_client_id uuid, p_channel text, p_at timestamptz,
                                            p_category text DEFAULT NULL)
    RETURNS TABLE (rule text, action text, reason text, next_allowed_at timestamptz)
    LANGUAGE sql STABLE AS $$
    WITH client AS (
        SELECT coalesce(c.time_zone, t.time_zone) AS tz,
               array_remove(ARRAY[c.email, bizctx_phone_digits(c.phone), bizctx_phone_digits(c.mobile_phone)],
                            NULL) AS addresses
          FROM clients c JOIN tenants t ON t.id = c.tenant_id
         WHERE c.tenant_id = bizctx_tenant() AND c.id = p_client_id
    ),
    -- The client's own opt-outs and those kept for its addresses: per channel, the one that
    -- lasts longest (for good first).
    outs AS (
        SELECT DISTINCT ON (o.channel) o.channel, o.until, o.reason
          FROM (SELECT o.channel, o.until, o.reason FROM opt_outs o
                 WHERE o.tenant_id = bizctx_tenant() AND o.client_id = p_client_id
                UNION ALL
                SELECT a.channel, a.until, a.reason FROM opt_out_addresses a CROSS JOIN client
                 WHERE a.tenant_id = bizctx_tenant() AND a.address = ANY (client.addresses)) o
         WHERE o.channel IN (p_channel, 'all') AND (o.until IS NULL OR o.until > p_at)
         ORDER BY o.channel, o.until DESC NULLS FIRST
    ),
    -- Every outbound contact of the client on the channel: those recorded, and the reminders
    -- leased and not yet completed (a lease that ran out is not a contact: it is handed out
    -- again, and counts then). Those after p_at count too: a racer that committed while
    -- this transaction waited for the contact lock stamped its contact later than this
    -- transaction's now(), and a check of a past moment errs on the side of the client.
    made AS (
        SELECT i.occurred_at AS at, i.category FROM client_interactions i
         WHERE i.tenant_id = bizctx_tenant() AND i.client_id = p_client_id AND i.channel = p_channel
           AND i.direction = 'outbound'
        UNION ALL
        SELECT r.leased_at, 'reminder' FROM appointment_reminders r
          JOIN appointments a ON a.tenant_id = r.tenant_id AND a.id = r.appointment_id
         WHERE r.tenant_id = bizctx_tenant() AND a.client_id = p_client_id AND r.channel = p_channel
           AND r.status = 'leased' AND r.lease_expires_at > now()
    )
    SELECT 'opt_out', 'block',
           format('The client opted out of %s%s%s.',
                  CASE o.channel WHEN 'all' THEN 'all contact' ELSE o.channel END,
                  CASE WHEN o.until IS NULL THEN ''
                       ELSE ' until ' || to_char(o.until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
                  coalesce(' (' || o.reason || ')', '')),
           o.until
      FROM outs o
    UNION ALL
    SELECT r.name, r.action,
           coalesce(r.reason, format('Quiet hours: %s only from %s to %s in the client''s time zone (%s).',
                                     p_channel, to_char(r.allowed_from, 'HH24:MI'),
                                     to_char(r.allowed_until, 'HH24:MI'), client.tz)),
           CASE WHEN l.local::time < r.allowed_from THEN (l.local::date + r.allowed_from) AT TIME ZONE client.tz
                ELSE (l.local::date + 1 + r.allowed_from) AT TIME ZONE client.tz END
      FROM compliance_rules r
      CROSS JOIN client
      CROSS JOIN LATERAL (SELECT p_at AT TIME ZONE client.tz AS local) l
     WHERE r.tenant_id = bizctx_tenant() AND r.kind = 'quiet_hours' AND p_channel = ANY (r.channels)
       AND (r.categories IS NULL OR p_category IS NULL OR p_category = ANY (r.categories))
       AND (l.local::time < r.allowed_from OR l.local::time >= r.allowed_until)
    UNION ALL
    SELECT r.name, r.action,
           coalesce(r.reason, format('At most %s outbound %s contacts per client in %s days; %s already.',
                                     r.max_contacts, p_channel, r.window_days, recent.n)),
           -- When the max_contacts-th most recent contact it counts leaves the window.
           (SELECT m.at FROM made m WHERE r.categories IS NULL OR m.category = ANY (r.categories)
             ORDER BY m.at DESC OFFSET r.max_contacts - 1 LIMIT 1) + make_interval(days => r.window_days)
      FROM compliance_rules r
      CROSS JOIN LATERAL (
          SELECT count(*) AS n FROM made m
           WHERE m.at > p_at - make_interval(days => r.window_days)
             AND (r.categories IS NULL OR m.category = ANY (r.categories))
      ) recent
     WHERE r.tenant_id = bizctx_tenant() AND r.kind = 'frequency_cap' AND p_channel = ANY (r.channels)
       AND (r.categories IS NULL OR p_category IS NULL OR p_category = ANY (r.categories))
       AND recent.n >= r.max_contacts
$$;

-- Serializes the outbound contacts of one client, so a cap counts every racer's contact.
CREATE FUNCTION bizctx_lock_contact(p_client_id uuid) RETURNS boolean
    LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM clients
                    WHERE tenant_id = bizctx_tenant() AND id = p_client_id AND deleted_at IS NULL
                      FOR NO KEY UPDATE)
$$;

-- The clients domain's contact tools.
INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('check_contact', 'clients.read'),
    ('list_interactions', 'clients.read');

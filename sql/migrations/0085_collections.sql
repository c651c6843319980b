-- Collections ladders: an overdue invoice's escalation steps (by default an e-mail on the due
-- date, an sms a week later, a call at two weeks, a final notice at thirty days), each of
-- which becomes, at its time, a claimable task of type collections_contact.
--
-- Why lazily: a step becomes its task when a worker next asks for work (claim_next_task runs
-- bizctx_collection_steps_due first, as it reaps expired leases), not from a timer. A task
-- that is never claimable before its time cannot be worked early, and a step whose invoice
-- was paid or voided, whose client opted out, or whose ladder was stopped before its time
-- never becomes a task at all: no background job, and nothing to cancel on every payment.
-- Steps already past when a ladder starts (or missed while nobody asked for work) collapse
-- into the latest of them, so a client never gets three messages at once.
CREATE TABLE collections (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    invoice_id          uuid NOT NULL,
    client_id           uuid NOT NULL,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'stopped', 'completed')),
    end_reason          text CHECK (length(end_reason) <= 500),
    started_by_agent_id uuid,
    started_at          timestamptz NOT NULL DEFAULT now(),
    ended_at            timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE,
    CHECK ((status = 'active') = (ended_at IS NULL))
);
-- One running ladder per invoice.
CREATE UNIQUE INDEX collections_active_key ON collections (tenant_id, invoice_id) WHERE status = 'active';
CREATE INDEX collections_invoice_idx ON collections (tenant_id, invoice_id, started_at DESC);
SELECT bizctx_secure_tenant_table('collections', 'SELECT, INSERT, UPDATE');

CREATE TABLE collection_steps (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    collection_id uuid NOT NULL,
    step          integer NOT NULL CHECK (step BETWEEN 1 AND 20),
    channel       text NOT NULL CHECK (channel IN ('email', 'sms', 'phone')),
    template      text NOT NULL,
    due_at        timestamptz NOT NULL,
    -- scheduled: not yet its time; queued: its task exists (task_id); skipped: see note.
    status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'queued', 'skipped')),
    task_id       uuid,
    note          text,
    PRIMARY KEY (tenant_id, collection_id, step),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections (tenant_id, id) ON DELETE CASCADE,
    -- A skipped step keeps the task it had, cancelled.
    CHECK (status <> 'queued' OR task_id IS NOT NULL)
);
CREATE INDEX collection_steps_due_idx ON collection_steps (tenant_id, due_at) WHERE status = 'scheduled';
SELECT bizctx_secure_tenant_table('collection_steps', 'SELECT, INSERT, UPDATE');

-- Each tenant's ladder (operators set it whole: `bizctx collections set-ladder`): its steps'
-- days after the due date (at 09:00 in the business's time zone), channel and template. A
-- ladder started keeps the steps it started with.
CREATE TABLE collection_ladders (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    step      integer NOT NULL CHECK (step BETWEEN 1 AND 20),
    days      integer NOT NULL CHECK (days BETWEEN 0 AND 366),
    channel   text NOT NULL CHECK (channel IN ('email', 'sms', 'phone')),
    template  text NOT NULL CHECK (template ~ '^[a-z][a-z0-9_]{0,59}$'),
    PRIMARY KEY (tenant_id, step)
);
SELECT bizctx_secure_tenant_table('collection_ladders', 'SELECT');

-- The default ladder, for every tenant (existing ones included) through the defaults' marker.
CREATE FUNCTION bizctx_apply_default_ladder(p_tenant_id uuid) RETURNS void
    LANGUAGE sql AS $$
    WITH fresh AS (
        INSERT INTO policy_defaults_applied (tenant_id, default_key)
        VALUES (p_tenant_id, 'collection_ladder')
        ON CONFLICT DO NOTHING
        RETURNING tenant_id
    )
    INSERT INTO collection_ladders (tenant_id, step, days, channel, template)
    SELECT f.tenant_id, d.step, d.days, d.channel, d.template
    FROM fresh f
    CROSS JOIN (VALUES (1, 0, 'email', 'payment_reminder_email'), (2, 7, 'sms', 'payment_reminder_sms'),
                       (3, 14, 'phone', 'payment_reminder_phone'), (4, 30, 'email', 'final_notice_email'))
               AS d (step, days, channel, template)
$$;

CREATE OR REPLACE FUNCTION bizctx_tenant_defaults() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bizctx_apply_default_policies(NEW.id);
    PERFORM bizctx_apply_default_contact_rules(NEW.id);
    PERFORM bizctx_apply_default_templates(NEW.id);
    PERFORM bizctx_apply_default_ladder(NEW.id);
    RETURN NULL;
END
$$;

SELECT bizctx_apply_default_ladder(id) FROM tenants;

-- A step's task a worker claimed and let run out may be cancelled when its ladder ends (or its
-- channel is opted out): otherwise the lease's expiry would hand the step out again.
INSERT INTO task_transitions (from_status, to_status, task_type)
VALUES ('claimed', 'cancelled', 'collections_contact');

-- Turns the caller's tenant's due steps into tasks (see the top), and settles what ended.
-- Runs as the caller (bizctx_app: tenant isolation applies) but sees every task of the tenant
-- while it runs: a ladder's tasks are its starter's (created_by), not whoever's claim came
-- first, and a task a worker with a narrow scope cannot see must still be cancelled. The
-- scope is put back before it returns; an error aborts the transaction anyway.
CREATE FUNCTION bizctx_collection_steps_due() RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    scope text := current_setting('app.tasks_scope', true);
BEGIN
    PERFORM set_config('app.tasks_scope', 'all', true);
    -- Ladders whose invoice is settled complete; those of a client who opted out of all
    -- contact stop.
    UPDATE collections c
       SET status = 'completed', ended_at = now(),
           end_reason = CASE i.status WHEN 'paid' THEN 'The invoice was paid.' ELSE 'The invoice was voided.' END
      FROM invoices i
     WHERE c.tenant_id = bizctx_tenant() AND c.status = 'active'
       AND i.tenant_id = c.tenant_id AND i.id = c.invoice_id AND i.status IN ('paid', 'void');
    UPDATE collections c
       SET status = 'stopped', ended_at = now(), end_reason = 'The client opted out of all contact.'
     WHERE c.tenant_id = bizctx_tenant() AND c.status = 'active'
       -- Only an opt-out of all covers a chat: asking about one finds exactly those.
       AND EXISTS (SELECT 1 FROM bizctx_contact_rules_broken(c.client_id, 'chat', now()) r
                    WHERE r.rule = 'opt_out');
    UPDATE collection_steps s
       SET status = 'skipped', note = c.end_reason
      FROM collections c
     WHERE s.tenant_id = bizctx_tenant() AND s.status = 'scheduled'
       AND c.tenant_id = s.tenant_id AND c.id = s.collection_id AND c.status <> 'active';
    -- A step due, or queued and not being worked, whose channel the client opted out of is
    -- skipped (its task, if any, cancelled below).
    UPDATE collection_steps s
       SET status = 'skipped', note = 'The client opted out of ' || s.channel || '.'
      FROM collections c
     WHERE s.tenant_id = bizctx_tenant() AND s.due_at <= now()
       AND (s.status = 'scheduled'
            OR (s.status = 'queued' AND NOT EXISTS (
                    SELECT 1 FROM tasks t WHERE t.tenant_id = s.tenant_id AND t.id = s.task_id
                       AND (t.status IN ('completed', 'cancelled', 'dead')
                            OR (t.status = 'claimed' AND t.lease_expires_at > now())))))
       AND c.tenant_id = s.tenant_id AND c.id = s.collection_id AND c.status = 'active'
       AND EXISTS (SELECT 1 FROM bizctx_contact_rules_broken(c.client_id, s.channel, now()) r
                    WHERE r.rule = 'opt_out');
    -- Several due at once: all but the latest collapse into it.
    UPDATE collection_steps s
       SET status = 'skipped', note = 'Collapsed into step ' || later.step || ', due at the same time.'
      FROM (SELECT DISTINCT ON (collection_id) collection_id, step
              FROM collection_steps
             WHERE tenant_id = bizctx_tenant() AND status = 'scheduled' AND due_at <= now()
             ORDER BY collection_id, step DESC) later
     WHERE s.tenant_id = bizctx_tenant() AND s.status = 'scheduled' AND s.due_at <= now()
       AND s.collection_id = later.collection_id AND s.step < later.step;
    -- The rest become tasks, the ladder starter's: references only (no invoice number or
    -- contact data in the title or payload), the message is rendered when claimed.
    WITH due AS (
        SELECT s.collection_id, s.step, s.channel, s.template, c.client_id, c.invoice_id,
               c.started_by_agent_id
          FROM collection_steps s
          JOIN collections c ON c.tenant_id = s.tenant_id AND c.id = s.collection_id
         WHERE s.tenant_id = bizctx_tenant() AND s.status = 'scheduled' AND s.due_at <= now()
         FOR UPDATE OF s SKIP LOCKED
    ),
    made AS (
        INSERT INTO tasks (tenant_id, type, title, payload, priority, created_by_agent_id, client_id, invoice_id)
        SELECT bizctx_tenant(), 'collections_contact',
               format('Collections step %s: %s the client about an overdue invoice', d.step,
                      CASE d.channel WHEN 'phone' THEN 'call' WHEN 'sms' THEN 'text' ELSE 'e-mail' END),
               jsonb_build_object('collection_id', d.collection_id, 'step', d.step, 'channel', d.channel,
                                  'template', d.template, 'client_id', d.client_id, 'invoice_id', d.invoice_id),
               10, d.started_by_agent_id, d.client_id, d.invoice_id
          FROM due d
        RETURNING id, payload
    )
    UPDATE collection_steps s
       SET status = 'queued', task_id = m.id
      FROM made m
     WHERE s.tenant_id = bizctx_tenant() AND s.collection_id = (m.payload ->> 'collection_id')::uuid
       AND s.step = (m.payload ->> 'step')::integer;
    -- A step's task nobody is working on now (not claimed, or its lease ran out) is cancelled
    -- when its ladder ended or its step was skipped.
    UPDATE task_rows t
       SET status = 'cancelled', last_error = coalesce(s.note, c.end_reason)
      FROM collection_steps s
      JOIN collections c ON c.tenant_id = s.tenant_id AND c.id = s.collection_id
     WHERE s.tenant_id = bizctx_tenant() AND s.task_id IS NOT NULL
       AND (c.status <> 'active' OR s.status = 'skipped')
       AND t.tenant_id = s.tenant_id AND t.id = s.task_id
       AND (t.status IN ('pending', 'failed') OR (t.status = 'claimed' AND t.lease_expires_at <= now()));
    PERFORM set_config('app.tasks_scope', coalesce(scope, ''), true);
END
$$;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('start_collection', 'invoices.write'),
    ('stop_collection', 'invoices.write');

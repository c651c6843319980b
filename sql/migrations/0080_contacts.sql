-- The contacts domain: message templates, and the reminder outbox's tools (the outbox's
-- columns and its place in the frequency caps are in 0075, with the rules).
--
-- Why templates live here and take only named placeholders: a message an agent sends in the
-- business's name should say what the business wrote, filled with the client's and the
-- appointment's or invoice's fields, never whatever an agent composes. The placeholders are
-- a fixed list (no attribute access, no expressions), held by a CHECK, so a template cannot
-- reach a field the renderer does not govern: each one maps to one field and its domain, and
-- renders as withheld for a caller who may not read it (tools/contacts.py).
INSERT INTO capabilities (name, description) VALUES
    ('contacts.read',  'Read message templates and render them'),
    ('contacts.write', 'Claim due reminders to send, and complete them');

CREATE FUNCTION bizctx_template_placeholders_known(p_text text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM regexp_matches(coalesce(p_text, ''), '\{([^{}]*)\}', 'g') m
         WHERE m[1] <> ALL (ARRAY[
             'business_name', 'client_name', 'client_first_name', 'client_email', 'client_phone',
             'appointment_date', 'appointment_time', 'service_name',
             'invoice_number', 'invoice_total', 'invoice_balance', 'invoice_due_date', 'currency'
         ]))
$$;

CREATE TABLE message_templates (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,59}$'),
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'phone')),
    category    text NOT NULL CHECK (category IN ('reminder', 'payment_reminder', 'final_notice', 'marketing')),
    subject     text CHECK (length(subject) <= 200 AND bizctx_template_placeholders_known(subject)),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000 AND bizctx_template_placeholders_known(body)),
    default_key text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT message_templates_name_key UNIQUE (tenant_id, name),
    -- An e-mail has a subject; a text or a call script does not.
    CHECK ((channel = 'email') = (subject IS NOT NULL))
);
SELECT bizctx_secure_tenant_table('message_templates', 'SELECT');

-- Defaults for every tenant, existing ones included, through the defaults' marker table, so
-- one an operator removed is not added again.
CREATE FUNCTION bizctx_apply_default_templates(p_tenant_id uuid) RETURNS void
    LANGUAGE sql AS $$
    WITH defaults (name, channel, category, subject, body) AS (
        VALUES
        ('reminder_email', 'email', 'reminder', 'Reminder: {service_name} on {appointment_date}',
         'Hello {client_first_name}, this is a reminder of your {service_name} with {business_name} on '
         '{appointment_date} at {appointment_time}. Reply to this e-mail if you need to change it.'),
        ('reminder_sms', 'sms', 'reminder', NULL,
         '{business_name}: reminder of your {service_name} on {appointment_date} at {appointment_time}. '
         'Reply STOP to opt out.'),
        ('reminder_phone', 'phone', 'reminder', NULL,
         'Call {client_name} to confirm their {service_name} on {appointment_date} at {appointment_time}.'),
        ('payment_reminder_email', 'email', 'payment_reminder', 'Invoice {invoice_number}: {invoice_balance} {currency} due',
         'Hello {client_first_name}, invoice {invoice_number} from {business_name} has {invoice_balance} '
         '{currency} due since {invoice_due_date}. If you have paid already, thank you, and please ignore this.'),
        ('payment_reminder_sms', 'sms', 'payment_reminder', NULL,
         '{business_name}: invoice {invoice_number} has {invoice_balance} {currency} due since '
         '{invoice_due_date}. Reply STOP to opt out.'),
        ('payment_reminder_phone', 'phone', 'payment_reminder', NULL,
         'Call {client_name} about invoice {invoice_number}: {invoice_balance} {currency} due since '
         '{invoice_due_date}. Ask when they can pay; offer a payment plan.'),
        ('final_notice_email', 'email', 'final_notice', 'Final notice: invoice {invoice_number}',
         'Hello {client_first_name}, invoice {invoice_number} from {business_name} still has '
         '{invoice_balance} {currency} due since {invoice_due_date}. Please pay it within 7 days or '
         'contact us to arrange payment.')
    ),
    fresh AS (
        INSERT INTO policy_defaults_applied (tenant_id, default_key)
        SELECT p_tenant_id, 'template:' || d.name FROM defaults d
        ON CONFLICT DO NOTHING
        RETURNING default_key
    )
    INSERT INTO message_templates (tenant_id, name, channel, category, subject, body, default_key)
    SELECT p_tenant_id, d.name, d.channel, d.category, d.subject, d.body, 'template:' || d.name
    FROM defaults d JOIN fresh f ON f.default_key = 'template:' || d.name
$$;

CREATE OR REPLACE FUNCTION bizctx_tenant_defaults() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bizctx_apply_default_policies(NEW.id);
    PERFORM bizctx_apply_default_contact_rules(NEW.id);
    PERFORM bizctx_apply_default_templates(NEW.id);
    RETURN NULL;
END
$$;

SELECT bizctx_apply_default_templates(id) FROM tenants;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('list_templates', 'contacts.read'),
    ('render_template', 'contacts.read'),
    ('claim_due_reminders', 'contacts.write'),
    ('complete_reminder', 'contacts.write');

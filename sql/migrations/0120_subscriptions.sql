-- Subscriptions that bill: a plan of items (service, quantity, price) billed every month,
-- quarter or year on a billing day, by a billing run that issues each period's invoice once.
--
-- Why the periods table: a billing run may be repeated (a cron and an operator at once, two
-- HTTP replicas, a run retried after a crash) and runs may race. Each run locks the
-- subscription it bills, but the promise "each period is invoiced once" is the database's to
-- keep: one subscription_periods row per (subscription, period start), inserted in the same
-- transaction as the period's invoice. A run that lost a race, or repeats one that committed,
-- finds the row (or next_billing_on already moved past it) and bills nothing.
--
-- The table of 0004 was never written by anything (no tool, no import), so its shape changes
-- here without a data migration: the period is a cycle of 1, 3 or 12 months (the week
-- interval goes), the price is the items', and `amount` becomes their sum before tax.

ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_billing_interval_check;
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_status_check;
ALTER TABLE subscriptions
    DROP COLUMN billing_interval_count,
    DROP COLUMN description,
    ADD COLUMN plan_name text NOT NULL CHECK (length(btrim(plan_name)) BETWEEN 1 AND 200),
    -- The day of the month a period starts; in a shorter month, its last day.
    ADD COLUMN billing_day smallint NOT NULL CHECK (billing_day BETWEEN 1 AND 31),
    -- At ends_on: renew period by period (true), or end.
    ADD COLUMN auto_renew boolean NOT NULL DEFAULT true,
    -- Paused: periods starting before paused_until (NULL: until resumed) are not billed.
    ADD COLUMN paused_until date,
    ADD COLUMN cancel_reason text CHECK (length(cancel_reason) <= 1000),
    ADD CONSTRAINT subscriptions_billing_interval_check CHECK (billing_interval IN ('month', 'quarter', 'year')),
    ADD CONSTRAINT subscriptions_status_check CHECK (status IN ('active', 'paused', 'cancelled', 'ended')),
    ADD CONSTRAINT subscriptions_paused_shape CHECK (status = 'paused' OR paused_until IS NULL),
    ADD CONSTRAINT subscriptions_next_billing_shape CHECK (status NOT IN ('active', 'paused') OR next_billing_on IS NOT NULL);

CREATE TABLE subscription_items (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    subscription_id uuid NOT NULL,
    position        integer NOT NULL CHECK (position >= 1),
    description     text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 1000),
    quantity        numeric(14, 4) NOT NULL CHECK (quantity > 0),
    unit_price      numeric(18, 4) NOT NULL CHECK (unit_price >= 0),
    discount_pct    numeric(7, 4) NOT NULL DEFAULT 0 CHECK (discount_pct BETWEEN 0 AND 100),
    tax_pct         numeric(7, 4) NOT NULL DEFAULT 0 CHECK (tax_pct BETWEEN 0 AND 100),
    service_id      uuid,
    PRIMARY KEY (tenant_id, subscription_id, position),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id) ON DELETE SET NULL (service_id)
);
SELECT bizctx_secure_tenant_table('subscription_items', 'SELECT, INSERT');

-- One row per billed period: the invariant "each period once" (see above).
CREATE TABLE subscription_periods (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    subscription_id uuid NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    invoice_id      uuid NOT NULL,
    billed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subscription_id, period_start),
    UNIQUE (tenant_id, invoice_id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    CHECK (period_end >= period_start)
);
SELECT bizctx_secure_tenant_table('subscription_periods', 'SELECT, INSERT');

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('create_subscription', 'invoices.write'),
    ('pause_subscription', 'invoices.write'),
    ('cancel_subscription', 'invoices.write'),
    ('list_subscriptions', 'invoices.read');

-- Invoices: gapless per-tenant numbering, exact NUMERIC money rounded to the
-- currency's minor unit, lines whose amounts and invoice totals are computed by the
-- database, payments that maintain the balance, and recurring subscriptions.
--
-- Money rule (DESIGN.md): per line net = round(quantity * unit_price * (1 - discount/100)),
-- tax = round(net * tax/100), both rounded to the currency's minor unit half away from
-- zero; invoice totals are sums of the rounded lines.

-- ISO 4217 minor unit (decimal places) of a currency; 2 for anything not listed.
CREATE FUNCTION currency_minor_unit(currency char(3)) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT CASE
        WHEN currency IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF',
                          'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN 0
        WHEN currency IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3
        WHEN currency IN ('CLF', 'UYW') THEN 4
        ELSE 2
    END
$$;

-- round(numeric, n) rounds half away from zero: 0.125 USD -> 0.13, -0.125 -> -0.13.
CREATE FUNCTION bizctx_round_money(amount numeric, currency char(3)) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT round(amount, currency_minor_unit(currency))
$$;

-- One row per tenant: the next invoice number to hand out. The invoice trigger locks
-- this row (UPDATE / SELECT ... FOR UPDATE) in the inserting transaction, so numbers
-- are consecutive and gapless: a rolled-back invoice rolls its number back too.
-- The price is that issuing invoices is serialized per tenant until commit.
-- Drafts take no number; a number is assigned when an invoice leaves draft.
CREATE TABLE invoice_counters (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    next_number bigint NOT NULL DEFAULT 1 CHECK (next_number >= 1),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);
SELECT bizctx_secure_tenant_table('invoice_counters', 'SELECT, INSERT, UPDATE');

CREATE TABLE invoices (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id           uuid NOT NULL,
    -- Assigned by trigger when the invoice is issued (leaves draft); NULL for drafts.
    number              bigint CHECK (number >= 1),
    -- tenants.invoice_prefix || number zero-padded to 6 digits, e.g. 'INV-000042'.
    invoice_number      text CHECK (length(invoice_number) BETWEEN 1 AND 50),
    -- draft -> open -> partial -> paid; void. Overdue is derived, never stored.
    status              text NOT NULL DEFAULT 'open'
                            CHECK (status IN ('draft', 'open', 'partial', 'paid', 'void')),
    issue_date          date,
    due_date            date,
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Totals are maintained from invoice_items by trigger:
    -- subtotal = sum(round(quantity * unit_price)), discount_total = subtotal - sum(net),
    -- tax_total = sum(tax), total = subtotal - discount_total + tax_total.
    subtotal            numeric(18, 4) NOT NULL DEFAULT 0 CHECK (subtotal >= 0),
    discount_total      numeric(18, 4) NOT NULL DEFAULT 0 CHECK (discount_total >= 0),
    tax_total           numeric(18, 4) NOT NULL DEFAULT 0 CHECK (tax_total >= 0),
    total               numeric(18, 4) NOT NULL DEFAULT 0 CHECK (total >= 0),
    -- Maintained from payments by trigger.
    amount_paid         numeric(18, 4) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    balance_due         numeric(18, 4) GENERATED ALWAYS AS (total - amount_paid) STORED,
    notes               text,
    voided_at           timestamptz,
    void_reason         text,
    idempotency_key     text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    created_by_agent_id uuid,
    external_ref        text CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, invoice_number),
    UNIQUE (tenant_id, idempotency_key),
    UNIQUE (tenant_id, external_ref),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    CHECK (amount_paid <= total),
    CHECK (total = subtotal - discount_total + tax_total),
    CHECK (discount_total <= subtotal),
    CHECK (status = 'draft' OR (number IS NOT NULL AND invoice_number IS NOT NULL
                                AND issue_date IS NOT NULL AND due_date IS NOT NULL)),
    CHECK (due_date >= issue_date),
    CHECK (status NOT IN ('draft', 'open') OR amount_paid = 0),
    CHECK (status <> 'partial' OR (amount_paid > 0 AND amount_paid < total)),
    CHECK (status <> 'paid' OR amount_paid = total),
    CHECK ((status = 'void') = (voided_at IS NOT NULL))
);
CREATE INDEX invoices_client_idx ON invoices (tenant_id, client_id, issue_date DESC);
CREATE INDEX invoices_status_idx ON invoices (tenant_id, status, issue_date DESC);
CREATE INDEX invoices_issue_date_idx ON invoices (tenant_id, issue_date DESC, id);
-- Overdue and receivables aging: status IN ('open', 'partial') AND due_date < $today.
CREATE INDEX invoices_receivable_idx ON invoices (tenant_id, due_date) WHERE status IN ('open', 'partial');
-- Invoices are voided, never deleted, by agents.
SELECT bizctx_secure_tenant_table('invoices', 'SELECT, INSERT, UPDATE');

-- Before an invoice row is written: status rules, numbering, voided_at.
--   draft   -> open | void
--   open    -> partial | paid | void
--   partial -> paid
--   paid, void: final. (partial and paid are normally reached through payments.)
-- A bad transition raises BZ001 'invalid invoice status transition: X -> Y'; changing
-- an assigned number raises BZ002. A non-draft invoice without a number gets the
-- tenant's next one; an explicit number (imports) is kept and the counter moved past it.
CREATE FUNCTION bizctx_invoices_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status IS DISTINCT FROM OLD.status
           AND (OLD.status, NEW.status) NOT IN (
                ('draft', 'open'), ('draft', 'void'),
                ('open', 'partial'), ('open', 'paid'), ('open', 'void'),
                ('partial', 'paid')) THEN
            RAISE EXCEPTION 'invalid invoice status transition: % -> %', OLD.status, NEW.status
                USING ERRCODE = 'BZ001';
        END IF;
        IF OLD.number IS NOT NULL AND NEW.number IS DISTINCT FROM OLD.number THEN
            RAISE EXCEPTION 'invoice % already has its number', OLD.invoice_number
                USING ERRCODE = 'BZ002';
        END IF;
    END IF;

    IF NEW.status <> 'draft' AND NEW.number IS NULL THEN
        INSERT INTO invoice_counters (tenant_id) VALUES (NEW.tenant_id)
            ON CONFLICT (tenant_id) DO NOTHING;
        SELECT next_number INTO n FROM invoice_counters WHERE tenant_id = NEW.tenant_id FOR UPDATE;
        NEW.number := n;
        -- A retried insert with a used idempotency key will be skipped by ON CONFLICT
        -- (or fail with 23505): it must not consume a number. Checked after taking the
        -- counter lock, so a concurrent first attempt has committed by now.
        IF NOT (TG_OP = 'INSERT' AND NEW.idempotency_key IS NOT NULL
                AND EXISTS (SELECT 1 FROM invoices
                             WHERE tenant_id = NEW.tenant_id AND idempotency_key = NEW.idempotency_key)) THEN
            UPDATE invoice_counters SET next_number = n + 1 WHERE tenant_id = NEW.tenant_id;
        END IF;
    ELSIF NEW.number IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.number IS NULL) THEN
        INSERT INTO invoice_counters AS c (tenant_id, next_number) VALUES (NEW.tenant_id, NEW.number + 1)
            ON CONFLICT (tenant_id) DO UPDATE SET next_number = greatest(c.next_number, excluded.next_number);
    END IF;

    IF NEW.number IS NOT NULL AND NEW.invoice_number IS NULL THEN
        SELECT t.invoice_prefix
               || CASE WHEN NEW.number < 1000000 THEN lpad(NEW.number::text, 6, '0') ELSE NEW.number::text END
          INTO NEW.invoice_number
          FROM tenants t WHERE t.id = NEW.tenant_id;
    END IF;

    IF NEW.status = 'void' THEN
        NEW.voided_at := coalesce(NEW.voided_at, now());
    ELSE
        NEW.voided_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invoices_check BEFORE INSERT OR UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION bizctx_invoices_check();

CREATE TABLE invoice_items (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    invoice_id     uuid NOT NULL,
    position       integer NOT NULL CHECK (position >= 1),
    description    text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 1000),
    quantity       numeric(14, 4) NOT NULL CHECK (quantity > 0),
    unit_price     numeric(18, 4) NOT NULL CHECK (unit_price >= 0),
    discount_pct   numeric(7, 4) NOT NULL DEFAULT 0 CHECK (discount_pct BETWEEN 0 AND 100),
    tax_pct        numeric(7, 4) NOT NULL DEFAULT 0 CHECK (tax_pct BETWEEN 0 AND 100),
    -- Computed by trigger from the four columns above and the invoice's currency;
    -- values you supply are overwritten.
    net_amount     numeric(18, 4) NOT NULL,
    tax_amount     numeric(18, 4) NOT NULL,
    total_amount   numeric(18, 4) NOT NULL,
    service_id     uuid,
    appointment_id uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, invoice_id, position),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id) ON DELETE SET NULL (service_id),
    FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id)
        ON DELETE SET NULL (appointment_id),
    CHECK (total_amount = net_amount + tax_amount)
);
CREATE INDEX invoice_items_appointment_idx ON invoice_items (tenant_id, appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX invoice_items_service_idx ON invoice_items (tenant_id, service_id) WHERE service_id IS NOT NULL;
SELECT bizctx_secure_tenant_table('invoice_items');

-- Lines may change only while their invoice is a draft, or open with nothing paid
-- (create_invoice inserts an open invoice, then its lines). Otherwise BZ002.
-- Relinking service_id/appointment_id (e.g. ON DELETE SET NULL) is always allowed.
CREATE FUNCTION bizctx_invoice_items_compute() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    inv record;
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.invoice_id, NEW.quantity, NEW.unit_price, NEW.discount_pct, NEW.tax_pct, NEW.description, NEW.position)
           IS NOT DISTINCT FROM
           (OLD.invoice_id, OLD.quantity, OLD.unit_price, OLD.discount_pct, OLD.tax_pct, OLD.description, OLD.position)
    THEN
        NEW.net_amount := OLD.net_amount;
        NEW.tax_amount := OLD.tax_amount;
        NEW.total_amount := OLD.total_amount;
        RETURN NEW;
    END IF;
    SELECT status, currency, amount_paid, invoice_number INTO inv
      FROM invoices WHERE tenant_id = NEW.tenant_id AND id = NEW.invoice_id;
    IF NOT FOUND THEN
        RETURN NEW;  -- the foreign key reports it
    END IF;
    IF NOT (inv.status = 'draft' OR (inv.status = 'open' AND inv.amount_paid = 0)) THEN
        RAISE EXCEPTION 'cannot change the lines of % invoice %', inv.status, inv.invoice_number
            USING ERRCODE = 'BZ002';
    END IF;
    NEW.net_amount := bizctx_round_money(NEW.quantity * NEW.unit_price * (1 - NEW.discount_pct / 100), inv.currency);
    NEW.tax_amount := bizctx_round_money(NEW.net_amount * NEW.tax_pct / 100, inv.currency);
    NEW.total_amount := NEW.net_amount + NEW.tax_amount;
    RETURN NEW;
END
$$;
CREATE TRIGGER invoice_items_compute BEFORE INSERT OR UPDATE ON invoice_items
    FOR EACH ROW EXECUTE FUNCTION bizctx_invoice_items_compute();

CREATE FUNCTION bizctx_invoice_totals(p_tenant_id uuid, p_invoice_id uuid) RETURNS void
    LANGUAGE sql AS $$
    UPDATE invoices i
       SET subtotal = s.subtotal,
           discount_total = s.subtotal - s.net,
           tax_total = s.tax,
           total = s.net + s.tax
      FROM (SELECT coalesce(sum(bizctx_round_money(it.quantity * it.unit_price, inv.currency)), 0) AS subtotal,
                   coalesce(sum(it.net_amount), 0) AS net,
                   coalesce(sum(it.tax_amount), 0) AS tax
              FROM invoices inv
              LEFT JOIN invoice_items it ON it.tenant_id = inv.tenant_id AND it.invoice_id = inv.id
             WHERE inv.tenant_id = p_tenant_id AND inv.id = p_invoice_id) s
     WHERE i.tenant_id = p_tenant_id AND i.id = p_invoice_id
$$;

-- Invoice totals follow their lines. Rows removed by a cascade (the invoice or the
-- tenant being deleted) are skipped: the invoice is going away too.
CREATE FUNCTION bizctx_invoice_items_totals() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    inv record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF pg_trigger_depth() > 1 THEN
            RETURN NULL;
        END IF;
        SELECT status, amount_paid, invoice_number INTO inv
          FROM invoices WHERE tenant_id = OLD.tenant_id AND id = OLD.invoice_id;
        IF FOUND AND NOT (inv.status = 'draft' OR (inv.status = 'open' AND inv.amount_paid = 0)) THEN
            RAISE EXCEPTION 'cannot change the lines of % invoice %', inv.status, inv.invoice_number
                USING ERRCODE = 'BZ002';
        END IF;
        PERFORM bizctx_invoice_totals(OLD.tenant_id, OLD.invoice_id);
    ELSE
        PERFORM bizctx_invoice_totals(NEW.tenant_id, NEW.invoice_id);
        IF TG_OP = 'UPDATE' AND OLD.invoice_id <> NEW.invoice_id THEN
            PERFORM bizctx_invoice_totals(OLD.tenant_id, OLD.invoice_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER invoice_items_totals
    AFTER INSERT OR DELETE OR UPDATE OF invoice_id, quantity, unit_price, discount_pct, tax_pct ON invoice_items
    FOR EACH ROW EXECUTE FUNCTION bizctx_invoice_items_totals();

-- Payments are immutable for agents (no UPDATE or DELETE); a correction is an
-- operator's job.
CREATE TABLE payments (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    invoice_id          uuid NOT NULL,
    amount              numeric(18, 4) NOT NULL CHECK (amount > 0),
    -- Defaults to the invoice's currency; a different one is refused (BZ002).
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    method              text NOT NULL CHECK (method IN ('cash', 'card', 'bank_transfer', 'check', 'other')),
    reference           text CHECK (length(reference) <= 200),
    paid_at             timestamptz NOT NULL DEFAULT now(),
    notes               text,
    idempotency_key     text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    created_by_agent_id uuid,
    external_ref        text CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, idempotency_key),
    UNIQUE (tenant_id, external_ref),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    -- No fractions of the currency's minor unit (0.001 USD, 1.5 JPY).
    CHECK (amount = bizctx_round_money(amount, currency))
);
CREATE INDEX payments_invoice_idx ON payments (tenant_id, invoice_id, paid_at);
CREATE INDEX payments_paid_at_idx ON payments (tenant_id, paid_at DESC);
SELECT bizctx_secure_tenant_table('payments', 'SELECT, INSERT');

-- Side-effect free, so it is safe before an ON CONFLICT skip.
CREATE FUNCTION bizctx_payments_default_currency() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.currency IS NULL THEN
        SELECT currency INTO NEW.currency
          FROM invoices WHERE tenant_id = NEW.tenant_id AND id = NEW.invoice_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER payments_default_currency BEFORE INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION bizctx_payments_default_currency();

-- After a payment is inserted (so an idempotent retry skipped by ON CONFLICT never
-- counts twice): the invoice must be open or partial, in the same currency, and the
-- payment may not exceed the balance due (all BZ002). Then amount_paid grows and
-- the status becomes partial or paid.
CREATE FUNCTION bizctx_payments_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    inv record;
BEGIN
    SELECT status, currency, total, amount_paid, invoice_number INTO inv
      FROM invoices WHERE tenant_id = NEW.tenant_id AND id = NEW.invoice_id
       FOR UPDATE;
    IF inv.status NOT IN ('open', 'partial') THEN
        RAISE EXCEPTION 'cannot record a payment on % invoice %', inv.status, coalesce(inv.invoice_number, '(draft)')
            USING ERRCODE = 'BZ002';
    END IF;
    IF NEW.currency <> inv.currency THEN
        RAISE EXCEPTION 'payment currency % does not match invoice currency %', NEW.currency, inv.currency
            USING ERRCODE = 'BZ002';
    END IF;
    IF NEW.amount > inv.total - inv.amount_paid THEN
        RAISE EXCEPTION 'payment of % % exceeds the balance due of % %',
            NEW.amount, NEW.currency, inv.total - inv.amount_paid, inv.currency
            USING ERRCODE = 'BZ002';
    END IF;
    UPDATE invoices
       SET amount_paid = amount_paid + NEW.amount,
           status = CASE WHEN amount_paid + NEW.amount = total THEN 'paid' ELSE 'partial' END
     WHERE tenant_id = NEW.tenant_id AND id = NEW.invoice_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER payments_apply AFTER INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION bizctx_payments_apply();

CREATE TABLE subscriptions (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id           uuid NOT NULL,
    service_id          uuid,
    description         text,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'cancelled')),
    -- Bill every billing_interval_count billing_intervals (e.g. every 2 weeks).
    billing_interval    text NOT NULL CHECK (billing_interval IN ('week', 'month', 'quarter', 'year')),
    billing_interval_count integer NOT NULL DEFAULT 1 CHECK (billing_interval_count BETWEEN 1 AND 52),
    amount              numeric(18, 4) NOT NULL CHECK (amount >= 0),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    starts_on           date NOT NULL,
    next_billing_on     date,
    ends_on             date,
    -- Set automatically when the status becomes cancelled.
    cancelled_at        timestamptz,
    created_by_agent_id uuid,
    external_ref        text CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, external_ref),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id) ON DELETE SET NULL (service_id),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    CHECK (amount = bizctx_round_money(amount, currency)),
    CHECK (next_billing_on >= starts_on),
    CHECK (ends_on >= starts_on),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX subscriptions_client_idx ON subscriptions (tenant_id, client_id);
-- Due for billing: status = 'active' AND next_billing_on <= $today.
CREATE INDEX subscriptions_due_idx ON subscriptions (tenant_id, next_billing_on) WHERE status = 'active';
SELECT bizctx_secure_tenant_table('subscriptions', 'SELECT, INSERT, UPDATE');

CREATE FUNCTION bizctx_subscriptions_cancelled_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'cancelled' THEN
        NEW.cancelled_at := coalesce(NEW.cancelled_at, now());
    ELSE
        NEW.cancelled_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subscriptions_cancelled_at BEFORE INSERT OR UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION bizctx_subscriptions_cancelled_at();

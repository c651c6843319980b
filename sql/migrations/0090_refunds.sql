-- Refunds: money given back on a payment, in part or whole, as a credit note or reopening
-- what the client owes; and the default policy that holds refunds for approval.
--
-- Why the database keeps the sums, not the handler: a payment may be refunded in several
-- parts, by several agents, at once. Each refund takes the invoice's row lock (as payments
-- and voids of the invoice do), then counts the payment's refunds, its own included; the
-- second of two racers counts after the first commits, so refunds never add up to more than
-- was paid. The invoice's amounts follow in the same statement.
--
-- Two kinds (DESIGN, v2 Billing):
--   credit  a credit note: what the client owes falls with what they were paid back, so the
--           balance due does not change (amount_paid and the owed total both fall);
--   reopen  the money came back (a bounced payment, a chargeback): amount_paid falls and the
--           balance due rises by the refund, so a paid invoice is partial or open again.
-- What is owed is total - credited; balance_due = total - credited - amount_paid.

ALTER TABLE invoices ADD COLUMN credited numeric(18, 4) NOT NULL DEFAULT 0
    CONSTRAINT invoices_credited_check CHECK (credited >= 0);

-- balance_due is a stored generated column; PostgreSQL 15 and 16 cannot change its
-- expression in place (SET EXPRESSION came in 17), so it is made again.
ALTER TABLE invoices DROP COLUMN balance_due;
ALTER TABLE invoices ADD COLUMN balance_due numeric(18, 4)
    GENERATED ALWAYS AS (total - credited - amount_paid) STORED;

-- The status rules count credits as settled: paid means nothing is owed any more.
ALTER TABLE invoices DROP CONSTRAINT invoices_check;
ALTER TABLE invoices DROP CONSTRAINT invoices_check6;
ALTER TABLE invoices DROP CONSTRAINT invoices_check7;
ALTER TABLE invoices
    ADD CONSTRAINT invoices_settled_within_total CHECK (amount_paid + credited <= total),
    ADD CONSTRAINT invoices_partial_shape CHECK (
        status <> 'partial' OR (amount_paid > 0 AND amount_paid + credited < total)),
    ADD CONSTRAINT invoices_paid_shape CHECK (status <> 'paid' OR amount_paid + credited = total);

-- Transitions back (paid -> partial | open, partial -> open) are what refunds do; the
-- CHECKs above tie every status to the amounts, so only a fall in amount_paid reaches them.
CREATE OR REPLACE FUNCTION bizctx_invoices_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status IS DISTINCT FROM OLD.status
           AND (OLD.status, NEW.status) NOT IN (
                ('draft', 'open'), ('draft', 'void'),
                ('open', 'partial'), ('open', 'paid'), ('open', 'void'),
                ('partial', 'paid'), ('partial', 'open'), ('paid', 'partial'), ('paid', 'open')) THEN
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
        UPDATE invoice_counters SET next_number = n + 1 WHERE tenant_id = NEW.tenant_id;
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

-- A payment may take at most the balance due, which credits now lower too.
CREATE OR REPLACE FUNCTION bizctx_payments_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    inv record;
BEGIN
    SELECT status, currency, balance_due, invoice_number INTO inv
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
    IF NEW.amount > inv.balance_due THEN
        RAISE EXCEPTION 'payment of % % exceeds the balance due of % %',
            NEW.amount, NEW.currency, inv.balance_due, inv.currency
            USING ERRCODE = 'BZ002';
    END IF;
    UPDATE invoices
       SET amount_paid = amount_paid + NEW.amount,
           status = CASE WHEN balance_due = NEW.amount THEN 'paid' ELSE 'partial' END
     WHERE tenant_id = NEW.tenant_id AND id = NEW.invoice_id;
    RETURN NULL;
END
$$;

-- A refund names its payment together with the payment's invoice and currency, so the
-- foreign key itself keeps a refund on the invoice and in the currency that was paid.
ALTER TABLE payments ADD CONSTRAINT payments_invoice_currency_key UNIQUE (tenant_id, id, invoice_id, currency);

CREATE TABLE refunds (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    payment_id          uuid NOT NULL,
    invoice_id          uuid NOT NULL,
    amount              numeric(18, 4) NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    kind                text NOT NULL CHECK (kind IN ('credit', 'reopen')),
    reason              text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    refunded_at         timestamptz NOT NULL DEFAULT now(),
    created_by_agent_id uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT refunds_payment_fk FOREIGN KEY (tenant_id, payment_id, invoice_id, currency)
        REFERENCES payments (tenant_id, id, invoice_id, currency),
    FOREIGN KEY (tenant_id, created_by_agent_id) REFERENCES agents (tenant_id, id)
        ON DELETE SET NULL (created_by_agent_id),
    -- No fractions of the currency's minor unit.
    CHECK (amount = bizctx_round_money(amount, currency))
);
CREATE INDEX refunds_payment_idx ON refunds (tenant_id, payment_id, refunded_at);
CREATE INDEX refunds_invoice_idx ON refunds (tenant_id, invoice_id);
-- Refunds are immutable, like payments.
SELECT bizctx_secure_tenant_table('refunds', 'SELECT, INSERT');

-- A payment's refunds, oldest first, as JSON (amounts as strings at the currency's minor
-- unit: JSON numbers would reach Python as floats), and their sum. The caller's row policies
-- apply (not SECURITY DEFINER).
CREATE FUNCTION bizctx_payment_refunds(p_tenant_id uuid, p_payment_id uuid, p_currency char(3),
                                       OUT refunded numeric, OUT refunds jsonb)
    LANGUAGE sql STABLE AS $$
    SELECT round(coalesce(sum(amount), 0), currency_minor_unit(p_currency)),
           coalesce(jsonb_agg(jsonb_build_object(
               'id', id, 'amount', round(amount, currency_minor_unit(p_currency))::text, 'kind', kind,
               'reason', reason, 'refunded_at', refunded_at, 'created_by_agent_id', created_by_agent_id)
               ORDER BY refunded_at, id), '[]'::jsonb)
    FROM refunds
    WHERE tenant_id = p_tenant_id AND payment_id = p_payment_id
$$;

-- After a refund is inserted: under the invoice's lock, the payment's refunds may not come
-- to more than it (BZ002); then the invoice's amounts and status follow.
CREATE FUNCTION bizctx_refunds_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    paid numeric;
    refunded numeric;
    credit numeric := CASE WHEN NEW.kind = 'credit' THEN NEW.amount ELSE 0 END;
BEGIN
    PERFORM 1 FROM invoices WHERE tenant_id = NEW.tenant_id AND id = NEW.invoice_id FOR UPDATE;
    SELECT amount INTO paid FROM payments WHERE tenant_id = NEW.tenant_id AND id = NEW.payment_id;
    SELECT sum(amount) INTO refunded FROM refunds
     WHERE tenant_id = NEW.tenant_id AND payment_id = NEW.payment_id;
    IF refunded > paid THEN
        RAISE EXCEPTION 'refunds of payment % would come to % %, more than its % %',
            NEW.payment_id, refunded, NEW.currency, paid, NEW.currency
            USING ERRCODE = 'BZ002';
    END IF;
    UPDATE invoices
       SET amount_paid = amount_paid - NEW.amount,
           credited = credited + credit,
           status = CASE WHEN balance_due + NEW.amount - credit = 0 THEN 'paid'
                         WHEN amount_paid > NEW.amount THEN 'partial'
                         ELSE 'open' END
     WHERE tenant_id = NEW.tenant_id AND id = NEW.invoice_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER refunds_apply AFTER INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION bizctx_refunds_apply();

-- Refunds are held for approval by default, like voids: every tenant, existing ones included,
-- once (the marker keeps an operator's removal).
CREATE OR REPLACE FUNCTION bizctx_apply_default_policies(p_tenant_id uuid) RETURNS void
    LANGUAGE sql AS $$
    WITH defaults (default_key, tool, effect, reason) AS (
        VALUES ('void_invoice_approval', 'void_invoice', 'require_approval',
                'Voiding an invoice writes off what the client owes: a second person decides.'),
               ('refund_payment_approval', 'refund_payment', 'require_approval',
                'A refund gives money back: a second person decides.')
    ),
    fresh AS (
        INSERT INTO policy_defaults_applied (tenant_id, default_key)
        SELECT p_tenant_id, d.default_key FROM defaults d
        ON CONFLICT DO NOTHING
        RETURNING default_key
    )
    INSERT INTO policies (tenant_id, tool, effect, reason, default_key, created_by)
    SELECT p_tenant_id, d.tool, d.effect, d.reason, d.default_key, 'bizctx defaults'
    FROM defaults d JOIN fresh f USING (default_key)
$$;

SELECT bizctx_apply_default_policies(id) FROM tenants;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('refund_payment', 'invoices.write'),
    ('list_payments', 'invoices.read');

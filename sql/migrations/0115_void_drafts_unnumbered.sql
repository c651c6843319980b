-- A draft voided before it was issued keeps no number.
--
-- Why: numbers are gapless over the invoices a business issued; a draft takes its number when
-- it is issued (issue_invoice), so one that never was has none to keep. Until now voiding a
-- draft numbered it on the way (the trigger numbered anything not a draft), which then failed
-- the CHECK that a numbered invoice has its dates: a draft with no issue date could not be
-- voided at all, and one with dates would have used a number nobody was billed under.
-- An invoice voided after it was issued keeps its number, as before.

ALTER TABLE invoices DROP CONSTRAINT invoices_check3;
ALTER TABLE invoices ADD CONSTRAINT invoices_numbered_once_issued CHECK (
    status = 'draft'
    OR (status = 'void' AND number IS NULL AND invoice_number IS NULL)
    OR (number IS NOT NULL AND invoice_number IS NOT NULL AND issue_date IS NOT NULL AND due_date IS NOT NULL));

-- As in 0090, but a void invoice without a number is not numbered.
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

    IF NEW.status NOT IN ('draft', 'void') AND NEW.number IS NULL THEN
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

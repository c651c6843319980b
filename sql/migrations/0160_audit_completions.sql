-- Completions are reads like any other (an agent is offered client ids, invoice numbers,
-- service names it may read), so each is audited like one: a third kind of audit row.
ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_kind_check;
ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_kind_check CHECK (kind IN ('tool', 'resource', 'completion'));

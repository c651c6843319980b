-- A demo invoice as a draft (lines first, then it is issued); returns its id.
-- Index: invoices (tenant_id, external_ref).
INSERT INTO invoices (tenant_id, client_id, status, issue_date, due_date, currency, notes, external_ref)
VALUES (%(tenant_id)s, %(client_id)s, 'draft', %(issue_date)s, %(due_date)s, 'USD', %(notes)s, %(external_ref)s)
RETURNING id

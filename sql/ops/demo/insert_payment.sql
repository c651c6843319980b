-- One payment on a demo invoice (the trigger updates amount_paid and status).
-- Index: payments primary key.
INSERT INTO payments (tenant_id, invoice_id, amount, method, reference, paid_at)
VALUES (%(tenant_id)s, %(invoice_id)s, %(amount)s, %(method)s, %(reference)s, %(paid_at)s)

-- Moves a demo appointment to its next status (the trigger checks the transition).
-- Index: appointments primary key.
UPDATE appointments SET status = %(status)s, cancellation_reason = %(reason)s
WHERE tenant_id = %(tenant_id)s AND id = %(appointment_id)s

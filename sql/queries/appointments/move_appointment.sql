-- Moves an appointment in time (no write when the times are unchanged); the sync trigger moves
-- its held resources (23P01 when taken) and pending reminders. Index: appointments primary key.
UPDATE appointments
SET starts_at = %(starts_at)s::timestamptz, ends_at = %(ends_at)s::timestamptz
WHERE tenant_id = bizctx_tenant() AND id = %(appointment_id)s::uuid
  AND (starts_at, ends_at) IS DISTINCT FROM (%(starts_at)s::timestamptz, %(ends_at)s::timestamptz)

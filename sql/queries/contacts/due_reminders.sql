-- Up to `limit` reminders to hand out, locked for this transaction (others skip them): due
-- ones (pending, send_at passed) and those whose lease ran out with attempts left, on the
-- channels asked for, of appointments still to come that are not cancelled; oldest first.
-- Indexes: appointment_reminders_due_idx, appointment_reminders_lease_idx.
SELECT r.id, r.appointment_id, a.client_id, r.channel, r.send_at, r.attempts
FROM appointment_reminders r
JOIN appointments a ON a.tenant_id = r.tenant_id AND a.id = r.appointment_id
WHERE r.tenant_id = bizctx_tenant()
  AND r.channel = ANY (%(channels)s::text[])
  AND ((r.status = 'pending' AND r.send_at <= statement_timestamp())
       OR (r.status = 'leased' AND r.lease_expires_at <= statement_timestamp()
           AND r.attempts < %(max_attempts)s))
  AND a.status IN ('scheduled', 'confirmed') AND a.starts_at > statement_timestamp()
ORDER BY r.send_at, r.id
LIMIT %(limit)s
FOR UPDATE OF r SKIP LOCKED

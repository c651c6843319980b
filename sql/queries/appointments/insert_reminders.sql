-- Pending reminders for an appointment, one per (channel, send_at) pair given, except those
-- whose send_at is already past. Index: appointment_reminders (tenant_id, appointment_id, channel, send_at) unique.
INSERT INTO appointment_reminders (tenant_id, appointment_id, channel, send_at)
SELECT bizctx_tenant(), %(appointment_id)s::uuid, r.channel, r.send_at
FROM unnest(%(channels)s::text[], %(send_ats)s::timestamptz[]) AS r(channel, send_at)
WHERE r.send_at > now()
ON CONFLICT (tenant_id, appointment_id, channel, send_at) DO NOTHING

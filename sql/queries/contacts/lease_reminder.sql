-- Leases a reminder to the caller (one more attempt). Index: primary key.
UPDATE appointment_reminders
SET status = 'leased', leased_by_agent_id = bizctx_agent(), leased_at = statement_timestamp(),
    lease_expires_at = statement_timestamp() + make_interval(secs => %(lease_seconds)s::integer),
    attempts = attempts + 1
WHERE tenant_id = bizctx_tenant() AND id = %(reminder_id)s
RETURNING lease_expires_at, attempts

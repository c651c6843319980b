-- Reminders whose lease ran out on their last attempt fail (as a task goes dead): nobody will
-- hand them out again, and a lease that ran out is no contact. Index:
-- appointment_reminders_lease_idx.
UPDATE appointment_reminders
SET status = 'failed', last_error = 'Handed out ' || attempts || ' times; no agent completed it.',
    leased_by_agent_id = NULL, leased_at = NULL, lease_expires_at = NULL
WHERE tenant_id = bizctx_tenant() AND status = 'leased' AND lease_expires_at <= statement_timestamp()
  AND attempts >= %(max_attempts)s

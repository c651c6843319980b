-- A reminder a rule stops now: deferred to when it is allowed (pending, send_at moved), or
-- skipped with the rule when waiting would not help (an opt-out). Index: primary key.
UPDATE appointment_reminders
SET status = CASE WHEN %(defer_to)s::timestamptz IS NULL THEN 'skipped' ELSE 'pending' END,
    send_at = coalesce(%(defer_to)s::timestamptz, send_at),
    skipped_rule = CASE WHEN %(defer_to)s::timestamptz IS NULL THEN %(rule)s END,
    last_error = %(reason)s,
    leased_by_agent_id = NULL, leased_at = NULL, lease_expires_at = NULL
WHERE tenant_id = bizctx_tenant() AND id = %(reminder_id)s

-- Ends a leased reminder: sent (with its interaction), or failed (back to pending, to be
-- retried in a few minutes, until its attempts run out). Index: primary key.
UPDATE appointment_reminders
SET status = CASE WHEN %(sent)s THEN 'sent'
                  WHEN attempts >= %(max_attempts)s THEN 'failed' ELSE 'pending' END,
    sent_at = CASE WHEN %(sent)s THEN statement_timestamp() END,
    send_at = CASE WHEN %(sent)s OR attempts >= %(max_attempts)s THEN send_at
                   ELSE statement_timestamp() + interval '5 minutes' END,
    interaction_id = %(interaction_id)s,
    last_error = %(error)s,
    leased_by_agent_id = NULL, leased_at = NULL, lease_expires_at = NULL
WHERE tenant_id = bizctx_tenant() AND id = %(reminder_id)s
RETURNING id AS reminder_id, status, channel, attempts, sent_at, interaction_id

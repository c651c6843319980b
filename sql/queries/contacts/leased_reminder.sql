-- A reminder the caller holds the lease on, locked, with its client. Index: primary key.
SELECT r.id, r.status, r.channel, r.attempts, r.leased_by_agent_id, r.lease_expires_at,
       r.appointment_id, a.client_id, r.interaction_id
FROM appointment_reminders r
JOIN appointments a ON a.tenant_id = r.tenant_id AND a.id = r.appointment_id
WHERE r.tenant_id = bizctx_tenant() AND r.id = %(reminder_id)s
FOR UPDATE OF r

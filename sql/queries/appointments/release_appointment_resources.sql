-- Lets go of every resource an appointment holds (before it moves to another resource).
-- Index: appointment_resources primary key prefix (tenant_id, appointment_id).
DELETE FROM appointment_resources
WHERE tenant_id = bizctx_tenant() AND appointment_id = %(appointment_id)s::uuid

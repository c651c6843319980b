-- Releases the resources imported appointments no longer name. Index: appointment_resources
-- primary key (tenant_id, appointment_id, resource_id).
DELETE FROM appointment_resources ar
USING bizctx_import.appointments s
WHERE ar.tenant_id = %(tenant_id)s AND ar.appointment_id = s.id AND NOT (ar.resource_id = ANY(s.resource_ids))

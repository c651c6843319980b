-- Books the resources imported appointments name and do not hold yet (the trigger copies the
-- time range; the exclusion constraint is the last word on double-booking). Index:
-- appointment_resources primary key, the conflict target.
INSERT INTO appointment_resources (tenant_id, appointment_id, resource_id)
SELECT DISTINCT %(tenant_id)s::uuid, s.id, x.resource_id
FROM bizctx_import.appointments s
CROSS JOIN LATERAL unnest(s.resource_ids) AS x(resource_id)
ON CONFLICT (tenant_id, appointment_id, resource_id) DO NOTHING

-- One appointment's state for a change, row-locked until the transaction ends: status (and
-- whether it is final), times, service and the resources it holds. Index: appointments primary key.
SELECT a.id, a.status, bizctx_appointment_final(a.status) AS final, a.starts_at, a.ends_at, a.service_id,
       ARRAY(SELECT ar.resource_id FROM appointment_resources ar
             WHERE ar.tenant_id = a.tenant_id AND ar.appointment_id = a.id
             ORDER BY ar.resource_id) AS resource_ids
FROM appointments a
WHERE a.tenant_id = bizctx_tenant() AND a.id = %(appointment_id)s::uuid
FOR UPDATE OF a

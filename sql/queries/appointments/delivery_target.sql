-- The appointment a delivery or feedback is recorded on, row-locked until commit (a record and
-- its follow-up task are written once however many agents record at once), with its client,
-- service name and the business time zone. Index: appointments primary key.
SELECT a.id, a.status, a.client_id, a.starts_at, s.name AS service_name, t.time_zone
FROM appointments a
JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
JOIN tenants t ON t.id = a.tenant_id
WHERE a.tenant_id = bizctx_tenant() AND a.id = %(appointment_id)s::uuid
FOR UPDATE OF a

-- What was delivered at an appointment and the client's feedback (each null until recorded),
-- with the business time zone. Index: appointments primary key; the one-per-appointment keys.
SELECT a.id AS appointment_id, a.status, t.time_zone,
       (SELECT to_jsonb(d) - 'tenant_id' FROM service_deliveries d
        WHERE d.tenant_id = a.tenant_id AND d.appointment_id = a.id) AS delivery,
       (SELECT to_jsonb(f) - 'tenant_id' FROM appointment_feedback f
        WHERE f.tenant_id = a.tenant_id AND f.appointment_id = a.id) AS feedback
FROM appointments a
JOIN tenants t ON t.id = a.tenant_id
WHERE a.tenant_id = bizctx_tenant() AND a.id = %(appointment_id)s::uuid

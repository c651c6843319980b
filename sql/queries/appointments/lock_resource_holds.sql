-- A resource, with its hold lock taken until commit (the key the appointment_resources
-- trigger takes, 0025): bookings of it wait, and one that waited sees what this call writes.
-- Index: resources primary key.
SELECT r.id, r.name, r.active, coalesce(r.time_zone, t.time_zone) AS time_zone,
       pg_advisory_xact_lock(1651079779, hashtext(r.id::text)) IS NOT NULL AS locked
FROM resources r
JOIN tenants t ON t.id = r.tenant_id
WHERE r.tenant_id = bizctx_tenant() AND r.id = %(resource_id)s::uuid

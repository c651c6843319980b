-- Holds a resource for an appointment (a trigger copies its range and status); a double booking fails with 23P01.
-- Index: appointment_resources primary key; appointment_resources_no_double_booking (gist).
INSERT INTO appointment_resources (tenant_id, appointment_id, resource_id)
VALUES (bizctx_tenant(), %(appointment_id)s::uuid, %(resource_id)s::uuid)

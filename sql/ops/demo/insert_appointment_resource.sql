-- Books a resource for a demo appointment (the trigger copies the time range).
-- Index: appointment_resources primary key.
INSERT INTO appointment_resources (tenant_id, appointment_id, resource_id)
VALUES (%(tenant_id)s, %(appointment_id)s, %(resource_id)s)

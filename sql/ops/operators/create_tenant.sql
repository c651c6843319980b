-- A new tenant (business). Unique by name.
INSERT INTO tenants (name, time_zone, invoice_prefix)
VALUES (%(name)s, %(time_zone)s, %(invoice_prefix)s)
RETURNING id, name, time_zone, invoice_prefix, created_at

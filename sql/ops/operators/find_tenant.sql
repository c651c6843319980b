-- A tenant by name or by id (as text), for the CLI.
SELECT id, name, time_zone, invoice_prefix, created_at
FROM tenants
WHERE name = %(ref)s OR id::text = %(ref)s

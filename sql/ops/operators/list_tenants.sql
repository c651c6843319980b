-- Every tenant with its agent count, for the CLI.
SELECT t.id, t.name, t.time_zone, t.invoice_prefix, t.created_at,
       (SELECT count(*) FROM agents a WHERE a.tenant_id = t.id) AS agents
FROM tenants t
ORDER BY t.name

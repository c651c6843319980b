-- The growth benchmark's measured agent, in a database an earlier run loaded (--loaded).
SELECT a.tenant_id, a.id FROM agents a JOIN tenants t ON t.id = a.tenant_id
WHERE t.name = 'growth-0' AND a.name = 'reader'

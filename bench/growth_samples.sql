-- Clients of the measured tenant (slot 0) for the growth benchmark's calls: ids and names.
SELECT c.id, c.display_name
FROM clients c
JOIN growth_tenants t ON t.tenant_id = c.tenant_id AND t.slot = 0
ORDER BY c.id
LIMIT %(n)s

-- Service names starting with what was typed (active services: the ones that can be booked).
SELECT DISTINCT name AS value
FROM services
WHERE tenant_id = bizctx_tenant() AND active AND starts_with(lower(name), lower(%(prefix)s))
ORDER BY value
LIMIT 101

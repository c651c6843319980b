-- Sets each listed preference of imported clients; unchanged values are not touched.
-- Index: client_preferences (tenant_id, client_id, key) unique, the conflict target.
INSERT INTO client_preferences AS p (tenant_id, client_id, key, value)
SELECT %(tenant_id)s, s.id, e.key, e.value
FROM bizctx_import.clients s
CROSS JOIN LATERAL jsonb_each(s.preferences::jsonb) AS e
WHERE s.preferences IS NOT NULL
ORDER BY s.line
ON CONFLICT (tenant_id, client_id, key) DO UPDATE SET value = excluded.value
WHERE p.value IS DISTINCT FROM excluded.value

-- Removes preferences of imported clients that their row's preferences object no longer
-- has (only for rows with a preferences value). Index: client_preferences (tenant_id, client_id, key).
DELETE FROM client_preferences p
USING bizctx_import.clients s
WHERE p.tenant_id = %(tenant_id)s AND p.client_id = s.id AND s.preferences IS NOT NULL
  AND NOT (s.preferences::jsonb ? p.key)

-- The weekly hours in a file are the whole week of each resource they name: that resource's
-- other weekly rows go. Index: resource_availability_resource_idx (tenant_id, resource_id, ...).
DELETE FROM resource_availability a
WHERE a.tenant_id = %(tenant_id)s
  AND a.resource_id IN (SELECT s.resource_id FROM bizctx_import.availability s WHERE s.weekday IS NOT NULL)
  AND a.id NOT IN (SELECT s.id FROM bizctx_import.availability s WHERE s.weekday IS NOT NULL)

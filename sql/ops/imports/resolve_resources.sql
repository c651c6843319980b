-- Each staged resource: the resource it updates (by external_ref; else the oldest resource
-- of the same kind and name without another external_ref) and the id it will have.
-- Index: resources (tenant_id, external_ref) unique, resources_kind_idx.
UPDATE bizctx_import.resources s
SET (target_id, id) = (
    SELECT m.target_id, coalesce(m.target_id, gen_random_uuid())
    FROM (SELECT coalesce(
              (SELECT r.id FROM resources r
               WHERE r.tenant_id = %(tenant_id)s AND r.external_ref = btrim(s.external_ref)),
              (SELECT r.id FROM resources r
               WHERE r.tenant_id = %(tenant_id)s AND r.kind = lower(btrim(s.kind)) AND r.name = btrim(s.name)
                 AND (r.external_ref IS NULL OR s.external_ref IS NULL)
               ORDER BY r.created_at, r.id LIMIT 1)) AS target_id) m)

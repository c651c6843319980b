-- Each staged service: the service it updates (by external_ref; else by code, when that
-- service has no other external_ref) and the id it will have.
-- Index: services (tenant_id, external_ref) and (tenant_id, code) unique.
UPDATE bizctx_import.services s
SET (target_id, id) = (
    SELECT m.target_id, coalesce(m.target_id, gen_random_uuid())
    FROM (SELECT coalesce(
              (SELECT v.id FROM services v
               WHERE v.tenant_id = %(tenant_id)s AND v.external_ref = btrim(s.external_ref)),
              (SELECT v.id FROM services v
               WHERE v.tenant_id = %(tenant_id)s AND v.code = btrim(s.code)
                 AND (v.external_ref IS NULL OR s.external_ref IS NULL))) AS target_id) m)

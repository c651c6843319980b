-- Each staged series: its client, service and resource, the series it updates (by external_ref,
-- or by id: the export names a series without an external_ref by its id) and the id it will
-- have. Index: clients / resources / appointment_series (tenant_id, external_ref), services
-- (tenant_id, code), primary keys.
UPDATE bizctx_import.series s
SET (client_id, service_id, resource_id, target_id, id) = (
    SELECT m.client_id, m.service_id, m.resource_id, m.target_id, coalesce(m.target_id, gen_random_uuid())
    FROM (SELECT coalesce((SELECT c.id FROM clients c
                           WHERE c.tenant_id = %(tenant_id)s AND c.external_ref = btrim(s.client_ref)),
                          (SELECT c.id FROM clients c
                           WHERE c.tenant_id = %(tenant_id)s AND c.id = bizctx_import.ref_id(s.client_ref)))
                     AS client_id,
                 (SELECT v.id FROM services v WHERE v.tenant_id = %(tenant_id)s AND v.code = btrim(s.service_code))
                     AS service_id,
                 coalesce((SELECT r.id FROM resources r
                           WHERE r.tenant_id = %(tenant_id)s AND r.external_ref = btrim(s.resource_ref)),
                          (SELECT r.id FROM resources r
                           WHERE r.tenant_id = %(tenant_id)s AND r.id = bizctx_import.ref_id(s.resource_ref)))
                     AS resource_id,
                 coalesce((SELECT x.id FROM appointment_series x
                           WHERE x.tenant_id = %(tenant_id)s AND x.external_ref = btrim(s.external_ref)),
                          (SELECT x.id FROM appointment_series x
                           WHERE x.tenant_id = %(tenant_id)s AND x.id = bizctx_import.ref_id(s.external_ref)))
                     AS target_id) m)

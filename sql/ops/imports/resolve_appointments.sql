-- Each staged appointment: its client, service, resources and series, the appointment it updates (by
-- external_ref; else one without external_ref for the same client, service and start) and
-- the id it will have. Index: clients / resources / appointments (tenant_id, external_ref),
-- services (tenant_id, code), appointments_client_idx.
WITH typed AS (
    SELECT s.line, s.external_ref,
           coalesce((SELECT c.id FROM clients c
                     WHERE c.tenant_id = %(tenant_id)s AND c.external_ref = btrim(s.client_ref)),
                    (SELECT c.id FROM clients c
                     WHERE c.tenant_id = %(tenant_id)s AND c.id = bizctx_import.ref_id(s.client_ref))) AS client_id,
           (SELECT v.id FROM services v WHERE v.tenant_id = %(tenant_id)s AND v.code = btrim(s.service_code))
               AS service_id,
           ARRAY(SELECT coalesce((SELECT r.id FROM resources r
                                  WHERE r.tenant_id = %(tenant_id)s AND r.external_ref = x.ref),
                                 (SELECT r.id FROM resources r
                                  WHERE r.tenant_id = %(tenant_id)s AND r.id = bizctx_import.ref_id(x.ref)))
                 FROM unnest(bizctx_import.text_list(s.resource_refs)) WITH ORDINALITY AS x(ref, n)
                 ORDER BY x.n) AS resource_ids,
           CASE WHEN bizctx_import.is_timestamp(btrim(s.starts_at)) THEN btrim(s.starts_at)::timestamptz END
               AS starts_at,
           coalesce((SELECT x.id FROM appointment_series x
                     WHERE x.tenant_id = %(tenant_id)s AND x.external_ref = btrim(s.series_ref)),
                    (SELECT x.id FROM appointment_series x
                     WHERE x.tenant_id = %(tenant_id)s AND x.id = bizctx_import.ref_id(s.series_ref))) AS series_id
    FROM bizctx_import.appointments s
),
matched AS (
    SELECT t.*,
           coalesce((SELECT a.id FROM appointments a
                     WHERE a.tenant_id = %(tenant_id)s AND a.external_ref = btrim(t.external_ref)),
                    (SELECT a.id FROM appointments a
                     WHERE a.tenant_id = %(tenant_id)s AND t.external_ref IS NULL AND a.external_ref IS NULL
                       AND a.client_id = t.client_id AND a.service_id = t.service_id AND a.starts_at = t.starts_at
                     ORDER BY a.id LIMIT 1)) AS target_id
    FROM typed t
)
UPDATE bizctx_import.appointments s
SET client_id = m.client_id, service_id = m.service_id, resource_ids = m.resource_ids, target_id = m.target_id,
    id = coalesce(m.target_id, gen_random_uuid()), series_id = m.series_id
FROM matched m
WHERE m.line = s.line

-- The tenant's weekly hours, then its time off, in import form (times of day as HH:MM, time
-- off in the resource's or the tenant's time zone). Index: resource_availability_resource_idx,
-- resource_unavailability_during_idx.
SELECT record
FROM (
    SELECT 1 AS part, coalesce(r.external_ref, r.id::text) AS resource_ref, a.weekday::text AS k1,
           a.start_time::text AS k2, a.end_time::text AS k3, a.external_ref AS k4,
           json_build_object(
               'external_ref', a.external_ref,
               'resource_ref', coalesce(r.external_ref, r.id::text),
               'weekday', a.weekday,
               'start_time', bizctx_import.time_text(a.start_time),
               'end_time', bizctx_import.time_text(a.end_time),
               'starts_at', NULL, 'ends_at', NULL, 'reason', NULL) AS record
    FROM resource_availability a
    JOIN resources r ON r.tenant_id = a.tenant_id AND r.id = a.resource_id
    WHERE a.tenant_id = %(tenant_id)s
    UNION ALL
    SELECT 2, coalesce(r.external_ref, r.id::text), to_char(lower(u.during) AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS'),
           coalesce(to_char(upper(u.during) AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS'), ''), u.reason, u.external_ref,
           json_build_object(
               'external_ref', u.external_ref,
               'resource_ref', coalesce(r.external_ref, r.id::text),
               'weekday', NULL, 'start_time', NULL, 'end_time', NULL,
               'starts_at', bizctx_import.iso_timestamp(lower(u.during), coalesce(r.time_zone, t.time_zone)),
               'ends_at', bizctx_import.iso_timestamp(upper(u.during), coalesce(r.time_zone, t.time_zone)),
               'reason', u.reason)
    FROM resource_unavailability u
    JOIN resources r ON r.tenant_id = u.tenant_id AND r.id = u.resource_id
    JOIN tenants t ON t.id = u.tenant_id
    WHERE u.tenant_id = %(tenant_id)s
) x
ORDER BY part, resource_ref, k1, k2, k3, k4 NULLS LAST

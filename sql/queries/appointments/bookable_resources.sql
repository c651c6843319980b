-- Resources for [starts_at, ends_at) (ends_at null: starts_at + the service's duration) (those asked for, else active qualified ones): missing capabilities, working,
-- time_off, booked. Index: resources_capabilities_idx; resource_unavailability_during_idx; the exclusion gist index.
SELECT r.id, r.name, r.kind, r.active,
       ARRAY(SELECT c FROM unnest(s.required_capabilities) AS c
             WHERE NOT c = ANY (r.capabilities) ORDER BY c) AS missing_capabilities,
       bizctx_resource_hours(r.id, %(starts_at)s::timestamptz, coalesce(%(ends_at)s::timestamptz, %(starts_at)s::timestamptz + make_interval(mins => s.duration_minutes)))
           @> tstzrange(%(starts_at)s::timestamptz, coalesce(%(ends_at)s::timestamptz, %(starts_at)s::timestamptz + make_interval(mins => s.duration_minutes))) AS working,
       EXISTS (SELECT 1 FROM resource_unavailability u
               WHERE u.tenant_id = r.tenant_id AND u.resource_id = r.id
                 AND u.during && tstzrange(%(starts_at)s::timestamptz, coalesce(%(ends_at)s::timestamptz, %(starts_at)s::timestamptz + make_interval(mins => s.duration_minutes)))) AS time_off,
       EXISTS (SELECT 1 FROM appointment_resources ar
               WHERE ar.tenant_id = r.tenant_id AND ar.resource_id = r.id AND ar.active
                 AND ar.during && tstzrange(%(starts_at)s::timestamptz, coalesce(%(ends_at)s::timestamptz, %(starts_at)s::timestamptz + make_interval(mins => s.duration_minutes)))
                 AND ar.appointment_id IS DISTINCT FROM %(exclude_appointment_id)s::uuid) AS booked
FROM services s
JOIN resources r ON r.tenant_id = s.tenant_id
WHERE s.tenant_id = bizctx_tenant() AND s.id = %(service_id)s::uuid
  AND CASE WHEN %(resource_ids)s::uuid[] IS NULL
           THEN r.active AND r.capabilities @> s.required_capabilities
           ELSE r.id = ANY (%(resource_ids)s::uuid[]) END
ORDER BY r.name, r.id

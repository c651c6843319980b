-- A keyset page of resources by (name, id) with effective time zone, weekly hours (HH:MM; end may be 24:00)
-- and the next ten of their time off that has not ended (an import may leave its end open).
-- Index: resources_kind_idx (tenant_id, kind, name); resources_capabilities_idx (gin) for the @> filters;
-- resource_unavailability_upcoming_idx for the time off.
SELECT r.id, r.kind, r.name, r.capabilities, r.active, r.email,
       coalesce(r.time_zone, t.time_zone) AS time_zone,
       coalesce((SELECT jsonb_agg(jsonb_build_object('weekday', a.weekday,
                                                     'start', to_char(a.start_time, 'HH24:MI'),
                                                     'end', to_char(a.end_time, 'HH24:MI'))
                                  ORDER BY a.weekday, a.start_time, a.end_time)
                 FROM resource_availability a
                 WHERE a.tenant_id = r.tenant_id AND a.resource_id = r.id), '[]') AS weekly_hours,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', u.id, 'starts_at', lower(u.during),
                                                     'ends_at', upper(u.during), 'reason', u.reason)
                                  ORDER BY lower(u.during), u.id)
                 FROM (SELECT * FROM resource_unavailability u
                       WHERE u.tenant_id = r.tenant_id AND u.resource_id = r.id
                         AND (upper_inf(u.during) OR upper(u.during) > now())
                       ORDER BY lower(u.during), u.id
                       LIMIT 10) u), '[]') AS time_off
FROM resources r
JOIN tenants t ON t.id = r.tenant_id
WHERE r.tenant_id = bizctx_tenant()
  AND (r.active OR %(include_inactive)s::boolean)
  AND (%(kind)s::text IS NULL OR r.kind = %(kind)s::text)
  AND (%(capability)s::text IS NULL OR r.capabilities @> ARRAY[%(capability)s::text])
  AND (%(required_capabilities)s::text[] IS NULL OR r.capabilities @> %(required_capabilities)s::text[])
  AND (%(after_name)s::text IS NULL OR (r.name, r.id) > (%(after_name)s::text, %(after_id)s::uuid))
ORDER BY r.name, r.id
LIMIT %(limit)s

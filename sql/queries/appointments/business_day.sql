-- Today in the business time zone: the local date and the instants it starts and ends (DST-aware).
-- Index: tenants primary key.
SELECT t.time_zone, d.local_date,
       bizctx_local_instant(d.local_date::timestamp, t.time_zone) AS starts_at,
       bizctx_local_instant((d.local_date + 1)::timestamp, t.time_zone) AS ends_at
FROM tenants t
CROSS JOIN (SELECT bizctx_today() AS local_date) d
WHERE t.id = bizctx_tenant()

-- The client KPI of the period [from, to) and the one before, in the business time zone: new
-- clients (records created in it and not deleted). Index: clients (tenant_id, ...) scan of the
-- tenant's clients by created_at.
WITH t AS (SELECT time_zone FROM tenants WHERE id = bizctx_tenant()),
p AS (
    SELECT p.which, p.d_from::timestamp AT TIME ZONE t.time_zone AS ts_from,
           p.d_to::timestamp AT TIME ZONE t.time_zone AS ts_to
    FROM t, (VALUES ('current', %(from)s::date, %(to)s::date),
                    ('previous', %(prev_from)s::date, %(prev_to)s::date)) AS p(which, d_from, d_to)
)
SELECT 'new_clients' AS kpi, NULL::text AS currency,
       max(n) FILTER (WHERE which = 'current')::numeric AS value,
       max(n) FILTER (WHERE which = 'previous')::numeric AS previous
FROM (SELECT p.which, (SELECT count(*) FROM clients c
                       WHERE c.tenant_id = bizctx_tenant() AND c.deleted_at IS NULL
                         AND c.created_at >= p.ts_from AND c.created_at < p.ts_to) AS n
      FROM p) x

-- Every problem with the staged appointments as (line, column, message), in file order,
-- including bookings that would double-book a resource (against existing appointments and
-- other rows of the file). Index: appointment_resources_no_double_booking (gist on
-- resource_id, during), appointments (tenant_id, id).
WITH tenant AS (
    SELECT time_zone FROM tenants WHERE id = %(tenant_id)s
),
s AS (
    SELECT s.*, v.code, v.duration_minutes, v.required_capabilities, cur.status AS current_status,
           ser.client_id AS series_client_id, ser.service_id AS series_service_id,
           cur.starts_at AS current_starts, cur.ends_at AS current_ends,
           coalesce(lower(btrim(s.status)), 'scheduled') AS new_status,
           CASE WHEN bizctx_import.is_timestamp(btrim(s.starts_at)) THEN btrim(s.starts_at)::timestamptz END
               AS starts_t,
           CASE WHEN s.ends_at IS NULL THEN NULL
                WHEN bizctx_import.is_timestamp(btrim(s.ends_at)) THEN btrim(s.ends_at)::timestamptz END AS ends_given,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY btrim(s.external_ref)) AS first_ref_line
    FROM bizctx_import.appointments s
    LEFT JOIN services v ON v.tenant_id = %(tenant_id)s AND v.id = s.service_id
    LEFT JOIN appointments cur ON cur.tenant_id = %(tenant_id)s AND cur.id = s.target_id
    LEFT JOIN appointment_series ser ON ser.tenant_id = %(tenant_id)s AND ser.id = s.series_id
),
timed AS (
    SELECT s.*,
           coalesce(s.ends_given, s.starts_t + make_interval(mins => s.duration_minutes)) AS ends_t
    FROM s
),
held AS (
    SELECT t.line, t.id, x.resource_id, tstzrange(t.starts_t, t.ends_t) AS during
    FROM timed t
    CROSS JOIN LATERAL (SELECT DISTINCT u AS resource_id FROM unnest(t.resource_ids) u WHERE u IS NOT NULL) x
    WHERE t.starts_t IS NOT NULL AND t.ends_t > t.starts_t AND t.new_status NOT IN ('cancelled', 'no_show')
),
clash_existing AS (
    SELECT DISTINCT ON (h.line) h.line,
           format('%%s is already booked from %%s to %%s (appointment %%s); pick another time or resource',
                  r.name, bizctx_import.iso_timestamp(lower(ar.during), tenant.time_zone),
                  bizctx_import.iso_timestamp(upper(ar.during), tenant.time_zone),
                  coalesce(a.external_ref, a.id::text)) AS msg
    FROM held h
    CROSS JOIN tenant
    JOIN appointment_resources ar
      ON ar.tenant_id = %(tenant_id)s AND ar.resource_id = h.resource_id AND ar.active AND ar.during && h.during
    JOIN appointments a ON a.tenant_id = ar.tenant_id AND a.id = ar.appointment_id
    JOIN resources r ON r.tenant_id = ar.tenant_id AND r.id = ar.resource_id
    -- An appointment this file also moves is judged by its new time, below.
    WHERE NOT EXISTS (SELECT 1 FROM bizctx_import.appointments o WHERE o.id = ar.appointment_id)
    ORDER BY h.line, lower(ar.during)
),
clash_file AS (
    SELECT DISTINCT ON (h.line) h.line,
           format('%%s is double-booked: this overlaps line %%s', r.name, o.line) AS msg
    FROM held h
    JOIN held o ON o.resource_id = h.resource_id AND o.line < h.line AND o.during && h.during
    JOIN resources r ON r.tenant_id = %(tenant_id)s AND r.id = h.resource_id
    ORDER BY h.line, o.line
),
ref_problems AS (
    SELECT t.line,
           nullif(concat_ws('; ',
               string_agg(format('no resource has external_ref %%s (import resources first)', x.ref), '; '
                          ORDER BY x.n) FILTER (WHERE x.resource_id IS NULL),
               -- Together, the booked resources must have every capability the service requires.
               CASE WHEN bool_and(x.resource_id IS NOT NULL) AND count(*) > 0
                         AND NOT coalesce(array_agg(c.cap) FILTER (WHERE c.cap IS NOT NULL), '{}')
                             @> coalesce(t.required_capabilities, '{}')
                    THEN format('together these resources lack what service %%s requires (%%s)', t.code,
                                array_to_string(t.required_capabilities, ', ')) END), '') AS msg
    FROM timed t
    CROSS JOIN LATERAL unnest(bizctx_import.text_list(t.resource_refs), t.resource_ids) WITH ORDINALITY
        AS x(ref, resource_id, n)
    LEFT JOIN resources r ON r.tenant_id = %(tenant_id)s AND r.id = x.resource_id
    LEFT JOIN LATERAL unnest(r.capabilities) AS c(cap) ON true
    GROUP BY t.line, t.code, t.required_capabilities
)
SELECT t.line, p.col AS "column", p.msg AS message
FROM timed t
LEFT JOIN clash_existing ce ON ce.line = t.line
LEFT JOIN clash_file cf ON cf.line = t.line
LEFT JOIN ref_problems rp ON rp.line = t.line
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(t.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN t.first_ref_line < t.line
            THEN format('%%s is also on line %%s: each appointment may appear once per file', btrim(t.external_ref),
                        t.first_ref_line) END),
    ('client_ref', CASE
        WHEN t.client_id IS NOT NULL THEN NULL
        WHEN t.client_ref IS NULL THEN 'is required: the external_ref of the client'
        ELSE format('no client has external_ref %%s (import clients first)', btrim(t.client_ref)) END),
    ('service_code', CASE
        WHEN t.service_id IS NOT NULL THEN NULL
        WHEN t.service_code IS NULL THEN 'is required: the code of the service'
        ELSE format('unknown service code %%s (import services first)', btrim(t.service_code)) END),
    ('resource_refs', CASE
        WHEN bizctx_import.text_list(t.resource_refs) IS NULL
            THEN 'is not a list: give a JSON array of resource external_refs, or refs separated by ;'
        ELSE nullif(concat_ws('; ', rp.msg, ce.msg, cf.msg), '') END),
    ('starts_at', CASE
        WHEN t.starts_at IS NULL THEN 'is required (e.g. 2025-03-01T09:00:00+01:00)'
        WHEN t.starts_t IS NULL
            THEN format('%%s is not a timestamp with an offset, like 2025-03-01T09:00:00+01:00', t.starts_at)
        WHEN t.current_status IN ('completed', 'cancelled', 'no_show')
             AND (t.starts_t, t.ends_t) IS DISTINCT FROM (t.current_starts, t.current_ends)
            THEN format('a %%s appointment cannot be moved', t.current_status) END),
    ('ends_at', CASE
        WHEN t.ends_at IS NOT NULL AND t.ends_given IS NULL
            THEN format('%%s is not a timestamp with an offset, like 2025-03-01T10:30:00+01:00', t.ends_at)
        WHEN t.ends_t <= t.starts_t THEN 'must be after starts_at' END),
    ('status', CASE
        WHEN t.new_status NOT IN ('scheduled', 'confirmed', 'in_progress', 'completed', 'cancelled', 'no_show')
            THEN format('must be scheduled, confirmed, in_progress, completed, cancelled or no_show, not %%s', t.status)
        WHEN t.current_status IS NOT NULL AND t.current_status <> t.new_status
             AND NOT EXISTS (SELECT 1 FROM appointment_transitions
                             WHERE from_status = t.current_status AND to_status = t.new_status)
            THEN format('cannot change from %%s to %%s', t.current_status, t.new_status) END),
    ('price', CASE WHEN NOT bizctx_import.is_decimal(btrim(t.price), 14, 4)
        THEN format('%%s is not an amount (digits, a point, at most 4 decimals; no currency sign)', t.price) END),
    ('currency', CASE
        WHEN upper(btrim(t.currency)) !~ '^[A-Z]{3}$'
            THEN format('%%s is not an ISO 4217 currency code like EUR or USD', t.currency)
        WHEN t.currency IS NOT NULL AND t.price IS NULL THEN 'goes with a price; give both or neither' END),
    ('series_ref', CASE
        WHEN t.series_ref IS NOT NULL AND t.series_id IS NULL
            THEN format('no series has external_ref %%s (import series first)', btrim(t.series_ref))
        WHEN t.series_client_id IS DISTINCT FROM t.client_id AND t.series_id IS NOT NULL
            THEN 'is another client''s series'
        WHEN t.series_service_id IS DISTINCT FROM t.service_id AND t.series_id IS NOT NULL
            THEN 'is a series of another service' END)
) AS p(col, msg)
WHERE p.msg IS NOT NULL
ORDER BY t.line, p.col

-- Every problem with the staged series as (line, column, message), in file order: fields and
-- the rule's shape (monthly_by with monthly only; until_date or occurrences, one of them).
-- Index: none beyond the staging table (the references were resolved before).
WITH s AS (
    SELECT s.*,
           lower(btrim(s.frequency)) AS frequency_v,
           coalesce(lower(btrim(s.status)), 'active') AS status_v,
           CASE WHEN bizctx_import.is_date(btrim(s.until_date)) THEN btrim(s.until_date)::date END AS until_d,
           CASE WHEN bizctx_import.is_timestamp(btrim(s.first_starts_at)) THEN btrim(s.first_starts_at)::timestamptz END
               AS first_t,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY btrim(s.external_ref)) AS first_ref_line
    FROM bizctx_import.series s
)
SELECT s.line, v.col AS "column", v.msg AS message
FROM s
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(s.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN s.first_ref_line < s.line
            THEN format('%%s is also on line %%s: each series may appear once per file', btrim(s.external_ref),
                        s.first_ref_line) END),
    ('client_ref', CASE
        WHEN s.client_id IS NOT NULL THEN NULL
        WHEN s.client_ref IS NULL THEN 'is required: the external_ref of the client'
        ELSE format('no client has external_ref %%s (import clients first)', btrim(s.client_ref)) END),
    ('service_code', CASE
        WHEN s.service_id IS NOT NULL THEN NULL
        WHEN s.service_code IS NULL THEN 'is required: the code of the service'
        ELSE format('unknown service code %%s (import services first)', btrim(s.service_code)) END),
    ('resource_ref', CASE WHEN s.resource_ref IS NOT NULL AND s.resource_id IS NULL
        THEN format('no resource has external_ref %%s (import resources first)', btrim(s.resource_ref)) END),
    ('frequency', CASE
        WHEN s.frequency IS NULL THEN 'is required: weekly, biweekly or monthly'
        WHEN s.frequency_v NOT IN ('weekly', 'biweekly', 'monthly')
            THEN format('must be weekly, biweekly or monthly, not %%s', s.frequency) END),
    ('monthly_by', CASE
        WHEN s.monthly_by IS NULL THEN NULL
        WHEN s.frequency_v <> 'monthly' THEN 'is for a monthly series only'
        WHEN lower(btrim(s.monthly_by)) NOT IN ('date', 'weekday')
            THEN format('must be date or weekday, not %%s', s.monthly_by) END),
    ('first_starts_at', CASE
        WHEN s.first_starts_at IS NULL THEN 'is required (e.g. 2025-03-01T09:00:00+01:00)'
        WHEN s.first_t IS NULL
            THEN format('%%s is not a timestamp with an offset, like 2025-03-01T09:00:00+01:00', s.first_starts_at)
        END),
    ('time_zone', CASE WHEN s.time_zone IS NOT NULL AND NOT bizctx_is_time_zone(btrim(s.time_zone))
        THEN format('%%s is not an IANA time zone like Europe/Berlin', s.time_zone) END),
    ('until_date', CASE
        WHEN s.until_date IS NULL AND s.occurrences IS NULL THEN 'give until_date or occurrences'
        WHEN s.until_date IS NOT NULL AND s.occurrences IS NOT NULL THEN 'give until_date or occurrences, not both'
        WHEN s.until_date IS NOT NULL AND s.until_d IS NULL THEN format('%%s is not a date (YYYY-MM-DD)', s.until_date)
        END),
    ('occurrences', CASE WHEN s.occurrences IS NOT NULL
        AND (NOT bizctx_import.is_integer(btrim(s.occurrences)) OR btrim(s.occurrences)::integer NOT BETWEEN 1 AND 52)
        THEN format('%%s is not a whole number from 1 to 52', s.occurrences) END),
    ('status', CASE WHEN s.status_v NOT IN ('active', 'cancelled')
        THEN format('must be active or cancelled, not %%s', s.status) END),
    ('cancel_reason', CASE WHEN length(s.cancel_reason) > 1000 THEN 'takes at most 1000 characters' END)
) AS v(col, msg)
WHERE v.msg IS NOT NULL
ORDER BY s.line, v.col

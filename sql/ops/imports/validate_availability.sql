-- Every problem with the staged weekly hours and time off as (line, column, message), in file
-- order. Index: none beyond the staging table (references were resolved before).
WITH s AS (
    SELECT s.*,
           s.weekday IS NOT NULL AS weekly,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY s.weekday IS NOT NULL, btrim(s.external_ref)) AS first_ref_line,
           min(s.line) FILTER (WHERE s.weekday IS NOT NULL AND s.external_ref IS NULL)
               OVER (PARTITION BY s.resource_id, bizctx_import.weekday(s.weekday), btrim(s.start_time),
                                  btrim(s.end_time)) AS first_same_line,
           CASE WHEN bizctx_import.is_time(btrim(s.start_time)) THEN btrim(s.start_time)::time END AS start_t,
           CASE WHEN bizctx_import.is_time(btrim(s.end_time)) THEN btrim(s.end_time)::time END AS end_t,
           CASE WHEN bizctx_import.is_timestamp(btrim(s.starts_at)) THEN btrim(s.starts_at)::timestamptz END AS starts_t,
           CASE WHEN bizctx_import.is_timestamp(btrim(s.ends_at)) THEN btrim(s.ends_at)::timestamptz END AS ends_t
    FROM bizctx_import.availability s
)
SELECT s.line, p.col AS "column", p.msg AS message
FROM s
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(s.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN s.first_ref_line < s.line
            THEN format('%%s is also on line %%s: each row may appear once per file', btrim(s.external_ref),
                        s.first_ref_line) END),
    ('resource_ref', CASE
        WHEN s.resource_ref IS NULL THEN 'is required: the external_ref of the resource (import resources first)'
        WHEN s.resource_id IS NULL
            THEN format('no resource has external_ref %%s (import resources first)', btrim(s.resource_ref)) END),
    ('weekday', CASE
        WHEN s.weekday IS NULL AND s.starts_at IS NULL
            THEN 'give a weekday (weekly hours: weekday, start_time, end_time) '
                 'or starts_at (time off: starts_at, ends_at, reason)'
        WHEN s.weekday IS NULL THEN NULL
        WHEN bizctx_import.weekday(s.weekday) IS NULL
            THEN format('%%s is not a weekday: 1 (Monday) to 7 (Sunday), or a day name like mon', s.weekday)
        WHEN s.first_same_line < s.line THEN format('the same hours are on line %%s', s.first_same_line) END),
    ('start_time', CASE
        WHEN NOT s.weekly THEN CASE WHEN s.start_time IS NOT NULL THEN 'is for weekly hours; this row is time off' END
        WHEN s.start_time IS NULL THEN 'is required for weekly hours (HH:MM)'
        WHEN s.start_t IS NULL THEN format('%%s is not a time of day (HH:MM)', s.start_time) END),
    ('end_time', CASE
        WHEN NOT s.weekly THEN CASE WHEN s.end_time IS NOT NULL THEN 'is for weekly hours; this row is time off' END
        WHEN s.end_time IS NULL THEN 'is required for weekly hours (HH:MM; 24:00 is the end of the day)'
        WHEN s.end_t IS NULL THEN format('%%s is not a time of day (HH:MM)', s.end_time)
        WHEN s.start_t IS NOT NULL AND s.end_t <= s.start_t
            THEN 'must be after start_time (a shift past midnight is two rows)' END),
    ('starts_at', CASE
        WHEN s.weekly THEN CASE WHEN s.starts_at IS NOT NULL
            THEN 'is for time off; a row is either weekly hours (weekday) or time off (starts_at)' END
        WHEN s.starts_at IS NULL THEN NULL
        WHEN s.starts_t IS NULL
            THEN format('%%s is not a timestamp with an offset, like 2025-03-01T09:00:00+01:00', s.starts_at) END),
    ('ends_at', CASE
        WHEN s.weekly THEN CASE WHEN s.ends_at IS NOT NULL THEN 'is for time off; this row is weekly hours' END
        WHEN s.ends_at IS NULL THEN NULL
        WHEN s.ends_t IS NULL
            THEN format('%%s is not a timestamp with an offset, like 2025-03-01T17:00:00+01:00', s.ends_at)
        WHEN s.starts_t IS NOT NULL AND s.ends_t <= s.starts_t THEN 'must be after starts_at' END),
    ('reason', CASE WHEN s.weekly AND s.reason IS NOT NULL THEN 'is for time off; this row is weekly hours' END)
) AS p(col, msg)
WHERE p.msg IS NOT NULL
ORDER BY s.line, p.col

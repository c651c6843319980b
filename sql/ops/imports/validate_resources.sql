-- Every problem with the staged resources as (line, column, message), in file order.
-- Index: resources_kind_idx (resources of the same kind and name).
WITH zones AS MATERIALIZED (
    SELECT name FROM pg_timezone_names
),
s AS (
    SELECT s.*,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY btrim(s.external_ref)) AS first_ref_line,
           min(s.line) FILTER (WHERE s.external_ref IS NULL)
               OVER (PARTITION BY lower(btrim(s.kind)), btrim(s.name)) AS first_name_line
    FROM bizctx_import.resources s
)
SELECT s.line, p.col AS "column", p.msg AS message
FROM s
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(s.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN s.first_ref_line < s.line
            THEN format('%%s is also on line %%s: each resource may appear once per file', btrim(s.external_ref),
                        s.first_ref_line) END),
    ('kind', CASE
        WHEN s.kind IS NULL THEN 'is required: staff, equipment, room or vehicle'
        WHEN lower(btrim(s.kind)) NOT IN ('staff', 'equipment', 'room', 'vehicle')
            THEN format('must be staff, equipment, room or vehicle, not %%s', s.kind) END),
    ('name', CASE
        WHEN s.name IS NULL THEN 'is required'
        WHEN length(btrim(s.name)) > 200 THEN 'is longer than 200 characters'
        WHEN s.external_ref IS NULL AND s.first_name_line < s.line
            THEN format('%%s %%s is also on line %%s; give each an external_ref', lower(btrim(s.kind)),
                        btrim(s.name), s.first_name_line)
        WHEN s.target_id IS NOT NULL AND s.external_ref IS NULL
             AND (SELECT count(*) FROM resources r
                  WHERE r.tenant_id = %(tenant_id)s AND r.kind = lower(btrim(s.kind)) AND r.name = btrim(s.name)
                    AND r.external_ref IS NULL) > 1
            THEN format('several %%s resources are named %%s; give this row an external_ref', lower(btrim(s.kind)),
                        btrim(s.name)) END),
    ('email', CASE WHEN NOT bizctx_import.is_email(s.email)
        THEN format('%%s is not a valid e-mail address (like name@example.com)', s.email) END),
    ('time_zone', CASE WHEN btrim(s.time_zone) NOT IN (SELECT name FROM zones)
        THEN format('%%s is not an IANA time zone (like Europe/Berlin)', s.time_zone) END),
    ('capabilities', CASE WHEN bizctx_import.text_list(s.capabilities) IS NULL
        THEN 'is not a list: give a JSON array of strings, or values separated by ;' END),
    ('active', CASE WHEN NOT bizctx_import.is_bool(s.active) THEN format('%%s is not true or false', s.active) END)
) AS p(col, msg)
WHERE p.msg IS NOT NULL
ORDER BY s.line, p.col

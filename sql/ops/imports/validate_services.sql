-- Every problem with the staged services as (line, column, message), in file order.
-- Index: services (tenant_id, code) unique (codes of other services).
WITH s AS (
    SELECT s.*,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY btrim(s.external_ref)) AS first_ref_line,
           min(s.line) FILTER (WHERE s.code IS NOT NULL) OVER (PARTITION BY btrim(s.code)) AS first_code_line
    FROM bizctx_import.services s
)
SELECT s.line, p.col AS "column", p.msg AS message
FROM s
LEFT JOIN services other ON other.tenant_id = %(tenant_id)s AND other.code = btrim(s.code) AND other.id <> s.id
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(s.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN s.first_ref_line < s.line
            THEN format('%%s is also on line %%s: each service may appear once per file', btrim(s.external_ref),
                        s.first_ref_line) END),
    ('code', CASE
        WHEN s.code IS NULL THEN 'is required: the short code appointments and invoice items use (e.g. DEEP-CLEAN)'
        WHEN length(btrim(s.code)) > 50 THEN 'is longer than 50 characters'
        WHEN s.first_code_line < s.line THEN format('%%s is also on line %%s', btrim(s.code), s.first_code_line)
        WHEN other.id IS NOT NULL
            THEN format('%%s already belongs to service %%s (%%s); give this row that external_ref to update it',
                        btrim(s.code), other.name, coalesce('external_ref ' || other.external_ref, 'id ' || other.id)) END),
    ('name', CASE
        WHEN s.name IS NULL THEN 'is required'
        WHEN length(btrim(s.name)) > 200 THEN 'is longer than 200 characters' END),
    ('duration_minutes', CASE
        WHEN s.duration_minutes IS NULL THEN 'is required (whole minutes, e.g. 90)'
        WHEN NOT bizctx_import.is_integer(btrim(s.duration_minutes))
            THEN format('%%s is not a whole number of minutes', s.duration_minutes)
        WHEN btrim(s.duration_minutes)::integer NOT BETWEEN 1 AND 10080
            THEN 'must be between 1 and 10080 minutes (a week)' END),
    ('price', CASE WHEN NOT bizctx_import.is_decimal(btrim(s.price), 14, 4)
        THEN format('%%s is not an amount (digits, a point, at most 4 decimals; no currency sign)', s.price) END),
    ('currency', CASE
        WHEN s.currency IS NULL THEN 'is required (ISO 4217, e.g. EUR)'
        WHEN upper(btrim(s.currency)) !~ '^[A-Z]{3}$'
            THEN format('%%s is not an ISO 4217 currency code like EUR or USD', s.currency) END),
    ('tax_pct', CASE
        WHEN NOT bizctx_import.is_decimal(btrim(s.tax_pct), 3, 4)
            THEN format('%%s is not a percentage (digits, a point, at most 4 decimals, e.g. 19 or 7.5)', s.tax_pct)
        WHEN btrim(s.tax_pct)::numeric > 100 THEN 'must be between 0 and 100' END),
    ('required_capabilities', CASE WHEN bizctx_import.text_list(s.required_capabilities) IS NULL
        THEN 'is not a list: give a JSON array of strings, or values separated by ;' END),
    ('active', CASE WHEN NOT bizctx_import.is_bool(s.active) THEN format('%%s is not true or false', s.active) END)
) AS p(col, msg)
WHERE p.msg IS NOT NULL
ORDER BY s.line, p.col

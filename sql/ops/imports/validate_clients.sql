-- Every problem with the staged clients as (line, column, message), in file order; empty
-- when all rows are good. Index: clients_email_key (e-mails of other clients).
WITH zones AS MATERIALIZED (
    SELECT name FROM pg_timezone_names
),
s AS (
    SELECT s.*,
           bizctx_import.json_value(s.addresses) AS addresses_json,
           bizctx_import.json_value(s.preferences) AS preferences_json,
           bizctx_import.json_value(s.opt_outs) AS opt_outs_json,
           min(s.line) FILTER (WHERE s.external_ref IS NOT NULL)
               OVER (PARTITION BY btrim(s.external_ref)) AS first_ref_line,
           min(s.line) FILTER (WHERE s.email IS NOT NULL)
               OVER (PARTITION BY lower(btrim(s.email))) AS first_email_line
    FROM bizctx_import.clients s
),
email_owners AS (
    SELECT DISTINCT ON (s.line) s.line, c.display_name, c.external_ref, c.id
    FROM bizctx_import.clients s
    JOIN clients c ON c.tenant_id = %(tenant_id)s AND lower(c.email) = lower(btrim(s.email))
                  AND c.deleted_at IS NULL AND c.email IS NOT NULL AND c.id <> s.id
    ORDER BY s.line, c.id
),
address_problems AS (
    SELECT a.line, string_agg(format('address %%s: %%s', a.n, x.msg), '; ' ORDER BY a.n, x.k) AS msg
    FROM bizctx_import.client_address_rows a
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN jsonb_typeof(a.v) <> 'object' THEN 'is not an object' END),
        (2, (SELECT 'unknown key ' || string_agg(k, ', ')
             FROM jsonb_object_keys(CASE WHEN jsonb_typeof(a.v) = 'object' THEN a.v END) k
             WHERE k NOT IN ('kind', 'label', 'line1', 'line2', 'city', 'region', 'postal_code', 'country',
                             'access_notes', 'is_primary'))),
        (3, CASE WHEN a.kind NOT IN ('service', 'billing', 'mailing')
            THEN format('kind must be service, billing or mailing, not %%s', a.kind) END),
        (4, CASE WHEN jsonb_typeof(a.v) = 'object' AND a.line1 IS NULL THEN 'line1 is required' END),
        (5, CASE WHEN length(a.line1) > 300 OR length(a.line2) > 300
            THEN 'line1 and line2 take at most 300 characters' END),
        (6, CASE WHEN length(a.city) > 200 OR length(a.region) > 200
            THEN 'city and region take at most 200 characters' END),
        (7, CASE WHEN length(a.postal_code) > 30 THEN 'postal_code takes at most 30 characters' END),
        (8, CASE WHEN a.country !~ '^[A-Z]{2}$'
            THEN format('country must be a two-letter ISO code like DE or US, not %%s', a.country) END),
        (9, CASE WHEN length(a.label) > 100 THEN 'label takes at most 100 characters' END),
        (10, CASE WHEN jsonb_typeof(a.v -> 'is_primary') NOT IN ('boolean', 'null')
                  AND NOT bizctx_import.is_bool(a.v ->> 'is_primary')
             THEN 'is_primary must be true or false' END)
    ) AS x(k, msg)
    WHERE x.msg IS NOT NULL
    GROUP BY a.line
),
primary_problems AS (
    SELECT DISTINCT ON (a.line) a.line, format('more than one primary %%s address', a.kind) AS msg
    FROM bizctx_import.client_address_rows a
    WHERE a.is_primary
    GROUP BY a.line, a.kind HAVING count(*) > 1
    ORDER BY a.line, a.kind
),
opt_out_problems AS (
    SELECT o.line, string_agg(format('opt-out %%s: %%s', o.n, x.msg), '; ' ORDER BY o.n) AS msg
    FROM bizctx_import.client_opt_out_rows o
    CROSS JOIN LATERAL (SELECT CASE
        WHEN jsonb_typeof(o.v) NOT IN ('string', 'object') THEN 'must be a channel name or an object'
        WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(CASE WHEN jsonb_typeof(o.v) = 'object' THEN o.v END) k
                     WHERE k NOT IN ('channel', 'reason'))
            THEN 'unknown key (known: channel, reason)'
        WHEN o.channel IS NULL OR o.channel NOT IN ('email', 'sms', 'phone', 'mail', 'all')
            THEN format('channel must be email, sms, phone, mail or all, not %%s', coalesce(o.channel, 'nothing'))
        END AS msg) x
    WHERE x.msg IS NOT NULL
    GROUP BY o.line
),
opt_out_twice AS (
    SELECT DISTINCT ON (o.line) o.line, format('channel %%s is listed twice', o.channel) AS msg
    FROM bizctx_import.client_opt_out_rows o
    WHERE o.channel IS NOT NULL
    GROUP BY o.line, o.channel HAVING count(*) > 1
    ORDER BY o.line, o.channel
)
SELECT s.line, p.col AS "column", p.msg AS message
FROM s
LEFT JOIN email_owners eo ON eo.line = s.line
LEFT JOIN address_problems ap ON ap.line = s.line
LEFT JOIN primary_problems pp ON pp.line = s.line
LEFT JOIN opt_out_problems op ON op.line = s.line
LEFT JOIN opt_out_twice ot ON ot.line = s.line
CROSS JOIN LATERAL (VALUES
    ('external_ref', CASE
        WHEN length(btrim(s.external_ref)) > 200 THEN 'is longer than 200 characters'
        WHEN s.first_ref_line < s.line
            THEN format('%%s is also on line %%s: each client may appear once per file', btrim(s.external_ref),
                        s.first_ref_line) END),
    ('client_type', CASE WHEN lower(btrim(s.client_type)) NOT IN ('individual', 'business')
        THEN format('must be individual or business, not %%s', s.client_type) END),
    ('first_name', CASE
        WHEN coalesce(s.first_name, s.last_name, s.company_name) IS NULL
            THEN 'a client needs a first_name, last_name or company_name'
        WHEN length(btrim(s.first_name)) > 200 THEN 'is longer than 200 characters' END),
    ('last_name', CASE WHEN length(btrim(s.last_name)) > 200 THEN 'is longer than 200 characters' END),
    ('company_name', CASE WHEN length(btrim(s.company_name)) > 300 THEN 'is longer than 300 characters' END),
    ('email', CASE
        WHEN s.email IS NULL THEN NULL
        WHEN NOT bizctx_import.is_email(s.email)
            THEN format('%%s is not a valid e-mail address (like name@example.com)', s.email)
        WHEN s.first_email_line < s.line
            THEN format('%%s is also on line %%s: one client per e-mail address', btrim(s.email), s.first_email_line)
        WHEN eo.line IS NOT NULL
            THEN format('%%s already belongs to client %%s (%%s); give this row that external_ref to update it',
                        lower(btrim(s.email)), eo.display_name,
                        coalesce('external_ref ' || eo.external_ref, 'id ' || eo.id)) END),
    ('phone', CASE WHEN NOT bizctx_import.is_phone(s.phone)
        THEN format('%%s is not a valid phone number (7 to 15 digits; + ( ) - . / spaces allowed)', s.phone) END),
    ('mobile_phone', CASE WHEN NOT bizctx_import.is_phone(s.mobile_phone)
        THEN format('%%s is not a valid phone number (7 to 15 digits; + ( ) - . / spaces allowed)', s.mobile_phone) END),
    ('date_of_birth', CASE WHEN NOT bizctx_import.is_date(s.date_of_birth)
        THEN format('%%s is not a date (YYYY-MM-DD)', s.date_of_birth) END),
    ('time_zone', CASE WHEN btrim(s.time_zone) NOT IN (SELECT name FROM zones)
        THEN format('%%s is not an IANA time zone (like Europe/Berlin)', s.time_zone) END),
    ('status', CASE WHEN lower(btrim(s.status)) NOT IN ('active', 'inactive', 'archived')
        THEN format('must be active, inactive or archived, not %%s', s.status) END),
    ('lifecycle_stage', CASE WHEN lower(btrim(s.lifecycle_stage)) NOT IN ('lead', 'prospect', 'customer', 'churned')
        THEN format('must be lead, prospect, customer or churned, not %%s', s.lifecycle_stage) END),
    ('tags', CASE WHEN bizctx_import.text_list(s.tags) IS NULL
        THEN 'is not a list: give a JSON array of strings, or values separated by ;' END),
    ('segments', CASE
        WHEN bizctx_import.text_list(s.segments) IS NULL
            THEN 'is not a list: give a JSON array of segment names, or names separated by ;'
        WHEN EXISTS (SELECT 1 FROM unnest(bizctx_import.text_list(s.segments)) n WHERE length(n) > 200)
            THEN 'a segment name takes at most 200 characters' END),
    ('addresses', CASE
        WHEN s.addresses IS NULL THEN NULL
        WHEN s.addresses_json IS NULL OR jsonb_typeof(s.addresses_json) <> 'array'
            THEN 'must be a JSON array of address objects, e.g. [{"line1": "1 Main St", "city": "Springfield"}]'
        ELSE nullif(concat_ws('; ', ap.msg, pp.msg), '') END),
    ('preferences', CASE
        WHEN s.preferences IS NULL THEN NULL
        WHEN s.preferences_json IS NULL OR jsonb_typeof(s.preferences_json) <> 'object'
            THEN 'must be a JSON object of preference keys and values, e.g. {"contact_time": "mornings"}'
        ELSE (SELECT 'keys must be 1 to 100 characters: ' || string_agg(quote_literal(k), ', ')
              FROM jsonb_object_keys(s.preferences_json) k
              WHERE length(btrim(k)) NOT BETWEEN 1 AND 100) END),
    ('opt_outs', CASE
        WHEN s.opt_outs IS NULL THEN NULL
        WHEN s.opt_outs_json IS NULL OR jsonb_typeof(s.opt_outs_json) <> 'array'
            THEN 'must be a JSON array of channels (email, sms, phone, mail, all) '
                 'or {"channel": ..., "reason": ...} objects'
        ELSE nullif(concat_ws('; ', op.msg, ot.msg), '') END)
) AS p(col, msg)
WHERE p.msg IS NOT NULL
ORDER BY s.line, p.col

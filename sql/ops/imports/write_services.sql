-- Inserts new services and updates changed ones from the staged rows; unchanged rows are not
-- touched. Returns how many were inserted and updated. Index: services primary key (tenant_id, id).
WITH written AS (
    INSERT INTO services AS v (tenant_id, id, external_ref, code, name, description, duration_minutes, price,
                               currency, tax_pct, required_capabilities, active)
    SELECT %(tenant_id)s, s.id, btrim(s.external_ref), btrim(s.code), btrim(s.name), s.description,
           btrim(s.duration_minutes)::integer, coalesce(btrim(s.price)::numeric, 0), upper(btrim(s.currency)),
           coalesce(btrim(s.tax_pct)::numeric, 0), bizctx_import.text_list(s.required_capabilities),
           coalesce(lower(btrim(s.active)) IN ('true', 't', 'yes', 'y', '1'), true)
    FROM bizctx_import.services s
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET external_ref = coalesce(excluded.external_ref, v.external_ref), code = excluded.code, name = excluded.name,
        description = excluded.description, duration_minutes = excluded.duration_minutes, price = excluded.price,
        currency = excluded.currency, tax_pct = excluded.tax_pct,
        required_capabilities = excluded.required_capabilities, active = excluded.active
    WHERE (v.external_ref, v.code, v.name, v.description, v.duration_minutes, v.price, v.currency, v.tax_pct,
           v.required_capabilities, v.active)
          IS DISTINCT FROM
          (coalesce(excluded.external_ref, v.external_ref), excluded.code, excluded.name, excluded.description,
           excluded.duration_minutes, excluded.price, excluded.currency, excluded.tax_pct,
           excluded.required_capabilities, excluded.active)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM written

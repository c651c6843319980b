-- Inserts new resources and updates changed ones from the staged rows; unchanged rows are not
-- touched. Returns how many were inserted and updated. Index: resources primary key (tenant_id, id).
WITH written AS (
    INSERT INTO resources AS r (tenant_id, id, external_ref, kind, name, email, time_zone, capabilities, active)
    SELECT %(tenant_id)s, s.id, btrim(s.external_ref), lower(btrim(s.kind)), btrim(s.name), btrim(s.email),
           btrim(s.time_zone), bizctx_import.text_list(s.capabilities),
           coalesce(lower(btrim(s.active)) IN ('true', 't', 'yes', 'y', '1'), true)
    FROM bizctx_import.resources s
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET external_ref = coalesce(excluded.external_ref, r.external_ref), kind = excluded.kind, name = excluded.name,
        email = excluded.email, time_zone = excluded.time_zone, capabilities = excluded.capabilities,
        active = excluded.active
    WHERE (r.external_ref, r.kind, r.name, r.email, r.time_zone, r.capabilities, r.active)
          IS DISTINCT FROM
          (coalesce(excluded.external_ref, r.external_ref), excluded.kind, excluded.name, excluded.email,
           excluded.time_zone, excluded.capabilities, excluded.active)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM written

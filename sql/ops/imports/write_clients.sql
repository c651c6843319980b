-- Inserts new clients and updates changed ones from the staged rows; rows that would not
-- change are not touched (updated_at stays). Returns how many were inserted and updated.
-- Index: clients primary key (tenant_id, id) as the conflict target (ids resolved earlier).
WITH written AS (
    INSERT INTO clients AS c (tenant_id, id, external_ref, client_type, first_name, last_name, company_name,
                              email, phone, mobile_phone, date_of_birth, time_zone, status, lifecycle_stage,
                              tags, notes)
    SELECT %(tenant_id)s, s.id, btrim(s.external_ref), coalesce(lower(btrim(s.client_type)), 'individual'),
           s.first_name, s.last_name, s.company_name, s.email, s.phone, s.mobile_phone, s.date_of_birth::date,
           btrim(s.time_zone), coalesce(lower(btrim(s.status)), 'active'),
           coalesce(lower(btrim(s.lifecycle_stage)), 'customer'), bizctx_import.text_list(s.tags), s.notes
    FROM bizctx_import.clients s
    ORDER BY s.line
    ON CONFLICT (tenant_id, id) DO UPDATE
    SET external_ref = coalesce(excluded.external_ref, c.external_ref),
        client_type = excluded.client_type, first_name = excluded.first_name, last_name = excluded.last_name,
        company_name = excluded.company_name, email = excluded.email, phone = excluded.phone,
        mobile_phone = excluded.mobile_phone, date_of_birth = excluded.date_of_birth,
        time_zone = excluded.time_zone, status = excluded.status, lifecycle_stage = excluded.lifecycle_stage,
        tags = excluded.tags, notes = excluded.notes
    WHERE (c.external_ref, c.client_type, c.first_name, c.last_name, c.company_name, c.email, c.phone,
           c.mobile_phone, c.date_of_birth, c.time_zone, c.status, c.lifecycle_stage, c.tags, c.notes)
          IS DISTINCT FROM
          (coalesce(excluded.external_ref, c.external_ref), excluded.client_type, excluded.first_name,
           excluded.last_name, excluded.company_name, excluded.email, excluded.phone, excluded.mobile_phone,
           excluded.date_of_birth, excluded.time_zone, excluded.status, excluded.lifecycle_stage, excluded.tags,
           excluded.notes)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM written

-- Adds the listed addresses that imported clients do not have yet, in file order (an
-- unchanged address keeps its id, so appointments pointing at it stay linked).
-- Index: client_addresses (tenant_id, client_id, id).
INSERT INTO client_addresses (tenant_id, client_id, kind, label, line1, line2, city, region, postal_code,
                              country, access_notes, is_primary)
SELECT %(tenant_id)s, r.client_id, r.kind, r.label, r.line1, r.line2, r.city, r.region, r.postal_code, r.country,
       r.access_notes, r.is_primary
FROM bizctx_import.client_address_rows r
WHERE NOT EXISTS (
    SELECT 1 FROM client_addresses a
    WHERE a.tenant_id = %(tenant_id)s AND a.client_id = r.client_id
      AND (r.kind, r.label, r.line1, r.line2, r.city, r.region, r.postal_code, r.country, r.access_notes,
           r.is_primary)
          IS NOT DISTINCT FROM
          (a.kind, a.label, a.line1, a.line2, a.city, a.region, a.postal_code, a.country::text, a.access_notes,
           a.is_primary))
ORDER BY r.line, r.n

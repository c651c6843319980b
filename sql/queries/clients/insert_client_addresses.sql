-- Adds the listed addresses the client does not have yet, in the order given (one it already
-- has keeps its id, so appointments pointing at it stay linked). Run after
-- delete_client_addresses. Index: client_addresses (tenant_id, client_id, id).
INSERT INTO client_addresses (tenant_id, client_id, kind, label, line1, line2, city, region, postal_code,
                              country, access_notes, is_primary)
SELECT bizctx_tenant(), %(client_id)s::uuid, r.kind, r.label, r.line1, r.line2, r.city, r.region, r.postal_code,
       r.country, r.access_notes, r.is_primary
FROM unnest(%(kinds)s::text[], %(labels)s::text[], %(line1s)s::text[], %(line2s)s::text[],
            %(cities)s::text[], %(regions)s::text[], %(postal_codes)s::text[], %(countries)s::text[],
            %(access_notes)s::text[], %(primaries)s::boolean[]) WITH ORDINALITY
     AS r(kind, label, line1, line2, city, region, postal_code, country, access_notes, is_primary, n)
WHERE NOT EXISTS (
    SELECT 1 FROM client_addresses a
    WHERE a.tenant_id = bizctx_tenant() AND a.client_id = %(client_id)s::uuid
      AND (r.kind, r.label, r.line1, r.line2, r.city, r.region, r.postal_code, r.country, r.access_notes,
           r.is_primary)
          IS NOT DISTINCT FROM
          (a.kind, a.label, a.line1, a.line2, a.city, a.region, a.postal_code, a.country::text, a.access_notes,
           a.is_primary))
ORDER BY r.n

-- Removes the client's addresses the new list does not hold as they are (same kind, label,
-- lines, city, region, postal code, country, access notes and primary flag), as an import
-- does; appointments at a removed address keep their location and lose the link.
-- Index: client_addresses (tenant_id, client_id, id).
DELETE FROM client_addresses a
WHERE a.tenant_id = bizctx_tenant() AND a.client_id = %(client_id)s::uuid
  AND NOT EXISTS (
      SELECT 1
      FROM unnest(%(kinds)s::text[], %(labels)s::text[], %(line1s)s::text[], %(line2s)s::text[],
                  %(cities)s::text[], %(regions)s::text[], %(postal_codes)s::text[], %(countries)s::text[],
                  %(access_notes)s::text[], %(primaries)s::boolean[])
           AS r(kind, label, line1, line2, city, region, postal_code, country, access_notes, is_primary)
      WHERE (r.kind, r.label, r.line1, r.line2, r.city, r.region, r.postal_code, r.country, r.access_notes,
             r.is_primary)
            IS NOT DISTINCT FROM
            (a.kind, a.label, a.line1, a.line2, a.city, a.region, a.postal_code, a.country::text,
             a.access_notes, a.is_primary))

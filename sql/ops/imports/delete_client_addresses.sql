-- Removes the addresses of imported clients that their row's addresses no longer list
-- (only for rows that have an addresses value). Index: client_addresses (tenant_id, client_id, id).
DELETE FROM client_addresses a
USING bizctx_import.clients s
WHERE a.tenant_id = %(tenant_id)s AND a.client_id = s.id AND s.addresses IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM bizctx_import.client_address_rows r
      WHERE r.client_id = a.client_id
        AND (r.kind, r.label, r.line1, r.line2, r.city, r.region, r.postal_code, r.country, r.access_notes,
             r.is_primary)
            IS NOT DISTINCT FROM
            (a.kind, a.label, a.line1, a.line2, a.city, a.region, a.postal_code, a.country::text,
             a.access_notes, a.is_primary))

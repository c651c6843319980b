-- A keyset page of appointments by (starts_at, id), filtered by client, resource, service, statuses and start range.
-- Index: appointments_starts_idx (tenant_id, starts_at); appointments_client_idx; appointment_resources_resource_idx.
SELECT a.id, a.status, a.starts_at, a.ends_at, a.location, a.notes, a.price, a.currency,
       a.cancelled_at, a.cancellation_reason, a.created_at, a.updated_at,
       c.id AS client_id, c.display_name AS client_name, c.email AS client_email,
       coalesce(c.phone, c.mobile_phone) AS client_phone,
       s.id AS service_id, s.code AS service_code, s.name AS service_name,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name, 'kind', r.kind)
                                  ORDER BY r.name, r.id)
                 FROM appointment_resources ar
                 JOIN resources r ON r.tenant_id = ar.tenant_id AND r.id = ar.resource_id
                 WHERE ar.tenant_id = a.tenant_id AND ar.appointment_id = a.id), '[]') AS resources,
       (SELECT jsonb_build_object('id', ad.id, 'label', ad.label, 'line1', ad.line1, 'line2', ad.line2,
                                  'city', ad.city, 'region', ad.region, 'postal_code', ad.postal_code,
                                  'country', ad.country, 'access_notes', ad.access_notes)
        FROM client_addresses ad
        WHERE ad.tenant_id = a.tenant_id AND ad.id = a.address_id) AS address,
       t.time_zone
FROM appointments a
JOIN clients c ON c.tenant_id = a.tenant_id AND c.id = a.client_id
JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
JOIN tenants t ON t.id = a.tenant_id
WHERE a.tenant_id = bizctx_tenant()
  AND (%(client_id)s::uuid IS NULL OR a.client_id = %(client_id)s::uuid)
  AND (%(service_id)s::uuid IS NULL OR a.service_id = %(service_id)s::uuid)
  AND (%(statuses)s::text[] IS NULL OR a.status = ANY (%(statuses)s::text[]))
  AND (%(from_at)s::timestamptz IS NULL OR a.starts_at >= %(from_at)s::timestamptz)
  AND (%(to_at)s::timestamptz IS NULL OR a.starts_at < %(to_at)s::timestamptz)
  AND (%(resource_id)s::uuid IS NULL OR EXISTS (
          SELECT 1 FROM appointment_resources ar
          WHERE ar.tenant_id = a.tenant_id AND ar.appointment_id = a.id
            AND ar.resource_id = %(resource_id)s::uuid))
  AND (%(after_starts_at)s::timestamptz IS NULL
       OR (a.starts_at, a.id) > (%(after_starts_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY a.starts_at, a.id
LIMIT %(limit)s

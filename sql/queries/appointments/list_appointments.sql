-- A keyset page of appointments (appointment_rows) by (starts_at, id), filtered by client, resource,
-- service, statuses and start range.
-- Index: appointments_starts_idx (tenant_id, starts_at); appointments_client_idx; appointment_resources_resource_idx.
SELECT v.*
FROM appointment_rows v
WHERE v.tenant_id = bizctx_tenant()
  AND (%(client_id)s::uuid IS NULL OR v.client_id = %(client_id)s::uuid)
  AND (%(service_id)s::uuid IS NULL OR v.service_id = %(service_id)s::uuid)
  AND (%(statuses)s::text[] IS NULL OR v.status = ANY (%(statuses)s::text[]))
  AND (%(from_at)s::timestamptz IS NULL OR v.starts_at >= %(from_at)s::timestamptz)
  AND (%(to_at)s::timestamptz IS NULL OR v.starts_at < %(to_at)s::timestamptz)
  AND (%(resource_id)s::uuid IS NULL OR EXISTS (
          SELECT 1 FROM appointment_resources ar
          WHERE ar.tenant_id = v.tenant_id AND ar.appointment_id = v.id
            AND ar.resource_id = %(resource_id)s::uuid))
  AND (%(after_starts_at)s::timestamptz IS NULL
       OR (v.starts_at, v.id) > (%(after_starts_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY v.starts_at, v.id
LIMIT %(limit)s

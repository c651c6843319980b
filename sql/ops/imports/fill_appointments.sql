-- For staged appointments that update an existing one: columns the file does not have take
-- the appointment's current values (references as resolved ids). Index: appointments
-- primary key (tenant_id, id), appointment_resources primary key.
UPDATE bizctx_import.appointments s
SET external_ref = CASE WHEN 'external_ref' = ANY(%(columns)s::text[]) THEN s.external_ref ELSE a.external_ref END,
    client_id = CASE WHEN 'client_ref' = ANY(%(columns)s::text[]) THEN s.client_id ELSE a.client_id END,
    service_id = CASE WHEN 'service_code' = ANY(%(columns)s::text[]) THEN s.service_id ELSE a.service_id END,
    resource_ids = CASE WHEN 'resource_refs' = ANY(%(columns)s::text[]) THEN s.resource_ids
                        ELSE ARRAY(SELECT ar.resource_id FROM appointment_resources ar
                                   WHERE ar.tenant_id = a.tenant_id AND ar.appointment_id = a.id
                                   ORDER BY ar.resource_id) END,
    starts_at = CASE WHEN 'starts_at' = ANY(%(columns)s::text[]) THEN s.starts_at
                     ELSE bizctx_import.iso_timestamp(a.starts_at, 'UTC') END,
    ends_at = CASE WHEN 'ends_at' = ANY(%(columns)s::text[]) THEN s.ends_at
                   ELSE bizctx_import.iso_timestamp(a.ends_at, 'UTC') END,
    status = CASE WHEN 'status' = ANY(%(columns)s::text[]) THEN s.status ELSE a.status END,
    location = CASE WHEN 'location' = ANY(%(columns)s::text[]) THEN s.location ELSE a.location END,
    notes = CASE WHEN 'notes' = ANY(%(columns)s::text[]) THEN s.notes ELSE a.notes END,
    price = CASE WHEN 'price' = ANY(%(columns)s::text[]) THEN s.price ELSE trim_scale(a.price)::text END,
    currency = CASE WHEN 'currency' = ANY(%(columns)s::text[]) THEN s.currency ELSE a.currency END,
    cancellation_reason = CASE WHEN 'cancellation_reason' = ANY(%(columns)s::text[]) THEN s.cancellation_reason
                               ELSE a.cancellation_reason END,
    series_id = CASE WHEN 'series_ref' = ANY(%(columns)s::text[]) THEN s.series_id ELSE a.series_id END
FROM appointments a
WHERE a.tenant_id = %(tenant_id)s AND a.id = s.target_id

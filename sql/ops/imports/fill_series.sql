-- For staged series that update an existing one: columns the file does not have take the
-- series' current values (references as resolved ids). Index: appointment_series primary key.
UPDATE bizctx_import.series s
SET client_id = CASE WHEN 'client_ref' = ANY(%(columns)s::text[]) THEN s.client_id ELSE x.client_id END,
    service_id = CASE WHEN 'service_code' = ANY(%(columns)s::text[]) THEN s.service_id ELSE x.service_id END,
    resource_id = CASE WHEN 'resource_ref' = ANY(%(columns)s::text[]) THEN s.resource_id ELSE x.resource_id END,
    frequency = CASE WHEN 'frequency' = ANY(%(columns)s::text[]) THEN s.frequency ELSE x.frequency END,
    monthly_by = CASE WHEN 'monthly_by' = ANY(%(columns)s::text[]) THEN s.monthly_by ELSE x.monthly_by END,
    first_starts_at = CASE WHEN 'first_starts_at' = ANY(%(columns)s::text[]) THEN s.first_starts_at
                           ELSE bizctx_import.iso_timestamp(x.first_starts_at, x.time_zone) END,
    time_zone = CASE WHEN 'time_zone' = ANY(%(columns)s::text[]) THEN s.time_zone ELSE x.time_zone END,
    until_date = CASE WHEN 'until_date' = ANY(%(columns)s::text[]) THEN s.until_date
                      ELSE to_char(x.until_date, 'YYYY-MM-DD') END,
    occurrences = CASE WHEN 'occurrences' = ANY(%(columns)s::text[]) THEN s.occurrences ELSE x.occurrences::text END,
    status = CASE WHEN 'status' = ANY(%(columns)s::text[]) THEN s.status ELSE x.status END,
    cancel_reason = CASE WHEN 'cancel_reason' = ANY(%(columns)s::text[]) THEN s.cancel_reason ELSE x.cancel_reason END
FROM appointment_series x
WHERE x.tenant_id = %(tenant_id)s AND x.id = s.target_id

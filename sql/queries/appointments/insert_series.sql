-- A new series made by the calling agent; its id. Index: appointment_series primary key.
INSERT INTO appointment_series (tenant_id, client_id, service_id, resource_id, frequency, monthly_by,
                                first_starts_at, time_zone, until_date, occurrences, created_by_agent_id)
VALUES (bizctx_tenant(), %(client_id)s::uuid, %(service_id)s::uuid, %(resource_id)s::uuid, %(frequency)s::text,
        %(monthly_by)s::text, %(first_starts_at)s::timestamptz, %(time_zone)s::text, %(until_date)s::date,
        %(occurrences)s::integer, bizctx_agent())
RETURNING id

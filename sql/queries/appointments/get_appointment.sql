-- One appointment with its client, service, held resources, client address and reminders, and the business time zone.
-- Index: appointments primary key; appointment_resources and appointment_reminders by (tenant_id, appointment_id).
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
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', m.id, 'channel', m.channel, 'send_at', m.send_at,
                                                     'status', m.status, 'sent_at', m.sent_at)
                                  ORDER BY m.send_at, m.channel)
                 FROM appointment_reminders m
                 WHERE m.tenant_id = a.tenant_id AND m.appointment_id = a.id), '[]') AS reminders,
       t.time_zone
FROM appointments a
JOIN clients c ON c.tenant_id = a.tenant_id AND c.id = a.client_id
JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
JOIN tenants t ON t.id = a.tenant_id
WHERE a.tenant_id = bizctx_tenant() AND a.id = %(appointment_id)s::uuid

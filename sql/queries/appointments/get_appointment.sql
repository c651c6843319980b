-- One appointment as agents see it (appointment_rows), with its reminders.
-- Index: appointments primary key; appointment_reminders by (tenant_id, appointment_id).
SELECT v.*,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', m.id, 'channel', m.channel, 'send_at', m.send_at,
                                                     'status', m.status, 'sent_at', m.sent_at)
                                  ORDER BY m.send_at, m.channel)
                 FROM appointment_reminders m
                 WHERE m.tenant_id = v.tenant_id AND m.appointment_id = v.id), '[]') AS reminders
FROM appointment_rows v
WHERE v.tenant_id = bizctx_tenant() AND v.id = %(appointment_id)s::uuid

-- What a client said about being contacted: the zone their hours are in, and the preferences
-- preferred_channel, contact_hours and reminder_channels. Index: clients primary key.
SELECT coalesce(c.time_zone, t.time_zone) AS time_zone,
       (SELECT p.value FROM client_preferences p
         WHERE p.tenant_id = c.tenant_id AND p.client_id = c.id AND p.key = 'preferred_channel') AS preferred_channel,
       (SELECT p.value FROM client_preferences p
         WHERE p.tenant_id = c.tenant_id AND p.client_id = c.id AND p.key = 'contact_hours') AS contact_hours,
       (SELECT p.value FROM client_preferences p
         WHERE p.tenant_id = c.tenant_id AND p.client_id = c.id AND p.key = 'reminder_channels') AS reminder_channels
FROM clients c
JOIN tenants t ON t.id = c.tenant_id
WHERE c.tenant_id = bizctx_tenant() AND c.id = %(client_id)s AND c.deleted_at IS NULL

-- A live client's reminder preferences (two keys), opted-out channels, and whether address_id (if given) is theirs.
-- Index: clients primary key; client_preferences and opt_outs unique (tenant_id, client_id, ...); client_addresses (tenant_id, client_id, id).
SELECT c.id,
       (SELECT p.value FROM client_preferences p
        WHERE p.tenant_id = c.tenant_id AND p.client_id = c.id AND p.key = %(channels_key)s::text) AS reminder_channels,
       (SELECT p.value FROM client_preferences p
        WHERE p.tenant_id = c.tenant_id AND p.client_id = c.id AND p.key = %(lead_key)s::text) AS reminder_lead_minutes,
       ARRAY(SELECT o.channel FROM opt_outs o
             WHERE o.tenant_id = c.tenant_id AND o.client_id = c.id
               AND (o.until IS NULL OR o.until > now()) ORDER BY o.channel) AS opted_out,
       (%(address_id)s::uuid IS NULL OR EXISTS (
            SELECT 1 FROM client_addresses a
            WHERE a.tenant_id = c.tenant_id AND a.client_id = c.id AND a.id = %(address_id)s::uuid)) AS address_ok
FROM clients c
WHERE c.tenant_id = bizctx_tenant() AND c.id = %(client_id)s::uuid AND c.deleted_at IS NULL

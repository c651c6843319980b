-- The business's local date (its time zone) and whether the client exists for this tenant.
-- Index: tenants primary key, clients primary key (tenant_id, id).
SELECT bizctx_today() AS today,
       t.time_zone,
       EXISTS (SELECT 1 FROM clients c
               WHERE c.tenant_id = bizctx_tenant() AND c.id = %(client_id)s::uuid
                 AND c.deleted_at IS NULL) AS client_exists
FROM tenants t
WHERE t.id = bizctx_tenant()

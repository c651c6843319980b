-- The calling agent's tenant, read as bizctx_app: RLS shows exactly one row.
SELECT id, name, time_zone FROM tenants WHERE id = bizctx_tenant()

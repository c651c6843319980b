-- The caller's tenant's policy version (moved by every change to its policies).
-- Index: tenants primary key.
SELECT policy_version FROM tenants WHERE id = bizctx_tenant()

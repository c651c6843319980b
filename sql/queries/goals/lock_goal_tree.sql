-- The business's goal tree, locked until commit: a goal's parent changes one at a time, so two
-- changes racing cannot both pass the loop check (each would see the other's old parent).
-- Index: none (an advisory lock keyed by the tenant).
SELECT pg_advisory_xact_lock(hashtext('bizctx_goals'), hashtext(bizctx_tenant()::text))

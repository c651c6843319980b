-- Turns the tenant's due collections steps into claimable tasks, and settles the ladders
-- that ended (migration 0085). Run before a claim, as expired leases are reaped.
SELECT bizctx_collection_steps_due()

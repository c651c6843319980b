-- The live-update hints this transaction's writes left (migration 0155), read in the COMMIT's
-- round trip.
SELECT current_setting('bizctx.live', true) AS bizctx_live

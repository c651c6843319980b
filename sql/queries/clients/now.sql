-- The transaction's clock: what "now" means for every rule the call checks.
SELECT now()

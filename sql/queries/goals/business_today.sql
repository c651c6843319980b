-- Today in the business time zone. Index: tenants primary key.
SELECT bizctx_today()

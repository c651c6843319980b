-- The catalog entries invoice lines name: each service's name, price, currency and tax rate,
-- for lines that leave them to the catalog. Index: services primary key (tenant_id, id).
SELECT s.id, s.name, s.price, s.currency, s.tax_pct, currency_minor_unit(s.currency) AS minor_unit
FROM services s
WHERE s.tenant_id = bizctx_tenant() AND s.id = ANY(%(service_ids)s::uuid[])

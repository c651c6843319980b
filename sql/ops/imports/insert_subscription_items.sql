-- Writes the items of imported subscriptions whose row gives them, in the file's order.
-- Index: subscription_items primary key.
INSERT INTO subscription_items (tenant_id, subscription_id, position, description, quantity, unit_price,
                                discount_pct, tax_pct, service_id)
SELECT %(tenant_id)s, i.subscription_id, i.position, i.description, i.quantity_n, i.unit_price_n, i.discount_n,
       i.tax_n, i.service_id
FROM bizctx_import.subscription_items i
ORDER BY i.line, i.position

-- Removes the current items of imported subscriptions whose row gives items (the file's
-- replace them whole). Index: subscription_items primary key (tenant_id, subscription_id, position).
DELETE FROM subscription_items si
USING bizctx_import.subscriptions s
WHERE si.tenant_id = %(tenant_id)s AND si.subscription_id = s.id AND s.items IS NOT NULL

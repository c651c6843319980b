-- A subscription a change or a billing run is about, locked until commit (they take turns on
-- one subscription: a billing run that waited sees what the first one billed), with its items
-- as the arrays insert_invoice_items takes, the business's date and the end of the last period
-- billed. Index: subscriptions primary key; subscription_items and subscription_periods
-- primary keys.
SELECT s.id, s.client_id, s.plan_name, s.status, s.billing_interval, s.billing_day, s.currency,
       s.starts_on, s.ends_on, s.auto_renew, s.next_billing_on, s.paused_until, bizctx_today() AS today,
       (SELECT max(p.period_end) FROM subscription_periods p
        WHERE p.tenant_id = s.tenant_id AND p.subscription_id = s.id) AS billed_until,
       i.descriptions, i.quantities, i.unit_prices, i.discount_pcts, i.tax_pcts, i.service_ids
FROM subscriptions s
CROSS JOIN LATERAL (
    SELECT array_agg(x.description ORDER BY x.position) AS descriptions,
           array_agg(x.quantity ORDER BY x.position) AS quantities,
           array_agg(x.unit_price ORDER BY x.position) AS unit_prices,
           array_agg(x.discount_pct ORDER BY x.position) AS discount_pcts,
           array_agg(x.tax_pct ORDER BY x.position) AS tax_pcts,
           array_agg(x.service_id ORDER BY x.position) AS service_ids
    FROM subscription_items x
    WHERE x.tenant_id = s.tenant_id AND x.subscription_id = s.id) i
WHERE s.tenant_id = bizctx_tenant() AND s.id = %(subscription_id)s::uuid
FOR UPDATE OF s

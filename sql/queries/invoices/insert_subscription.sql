-- A new subscription by the calling agent, with its items (positions 1..n in the order given)
-- and its amount per period before tax (the sum of the items' rounded nets); its id.
-- Index: subscriptions primary key; subscription_items primary key.
WITH lines AS (
    SELECT x.*
    FROM unnest(%(descriptions)s::text[], %(quantities)s::numeric[], %(unit_prices)s::numeric[],
                %(discount_pcts)s::numeric[], %(tax_pcts)s::numeric[], %(service_ids)s::uuid[])
         WITH ORDINALITY AS x(description, quantity, unit_price, discount_pct, tax_pct, service_id, position)
), subscription AS (
    INSERT INTO subscriptions (tenant_id, client_id, plan_name, billing_interval, billing_day, amount, currency,
                               starts_on, next_billing_on, ends_on, auto_renew, created_by_agent_id)
    SELECT bizctx_tenant(), %(client_id)s::uuid, %(plan_name)s::text, %(billing_interval)s::text,
           %(billing_day)s::smallint,
           coalesce(sum(bizctx_round_money(l.quantity * l.unit_price * (1 - l.discount_pct / 100),
                                           %(currency)s::char(3))), 0),
           %(currency)s::char(3), %(starts_on)s::date, %(next_billing_on)s::date, %(ends_on)s::date,
           %(auto_renew)s::boolean, bizctx_agent()
    FROM lines l
    RETURNING tenant_id, id
), items AS (
    INSERT INTO subscription_items (tenant_id, subscription_id, position, description, quantity, unit_price,
                                    discount_pct, tax_pct, service_id)
    SELECT s.tenant_id, s.id, l.position::integer, l.description, l.quantity, l.unit_price, l.discount_pct,
           l.tax_pct, l.service_id
    FROM subscription s CROSS JOIN lines l
)
SELECT id FROM subscription

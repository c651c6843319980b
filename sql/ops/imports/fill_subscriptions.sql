-- For staged subscriptions that update an existing one: columns the file does not have take
-- the subscription's current values (items stay as they are when absent: see
-- delete_subscription_items). Index: subscriptions primary key (tenant_id, id).
UPDATE bizctx_import.subscriptions s
SET client_id = CASE WHEN 'client_ref' = ANY(%(columns)s::text[]) THEN s.client_id ELSE x.client_id END,
    plan_name = CASE WHEN 'plan_name' = ANY(%(columns)s::text[]) THEN s.plan_name ELSE x.plan_name END,
    status = CASE WHEN 'status' = ANY(%(columns)s::text[]) THEN s.status ELSE x.status END,
    billing_cycle = CASE WHEN 'billing_cycle' = ANY(%(columns)s::text[]) THEN s.billing_cycle
                         ELSE CASE x.billing_interval WHEN 'month' THEN 'monthly' WHEN 'quarter' THEN 'quarterly'
                                                      ELSE 'annual' END END,
    billing_day = CASE WHEN 'billing_day' = ANY(%(columns)s::text[]) THEN s.billing_day ELSE x.billing_day::text END,
    currency = CASE WHEN 'currency' = ANY(%(columns)s::text[]) THEN s.currency ELSE x.currency END,
    starts_on = CASE WHEN 'starts_on' = ANY(%(columns)s::text[]) THEN s.starts_on
                     ELSE to_char(x.starts_on, 'YYYY-MM-DD') END,
    ends_on = CASE WHEN 'ends_on' = ANY(%(columns)s::text[]) THEN s.ends_on ELSE to_char(x.ends_on, 'YYYY-MM-DD') END,
    auto_renew = CASE WHEN 'auto_renew' = ANY(%(columns)s::text[]) THEN s.auto_renew ELSE x.auto_renew::text END,
    next_billing_on = CASE WHEN 'next_billing_on' = ANY(%(columns)s::text[]) THEN s.next_billing_on
                           ELSE to_char(x.next_billing_on, 'YYYY-MM-DD') END,
    paused_until = CASE WHEN 'paused_until' = ANY(%(columns)s::text[]) THEN s.paused_until
                        ELSE to_char(x.paused_until, 'YYYY-MM-DD') END,
    cancel_reason = CASE WHEN 'cancel_reason' = ANY(%(columns)s::text[]) THEN s.cancel_reason ELSE x.cancel_reason END
FROM subscriptions x
WHERE x.tenant_id = %(tenant_id)s AND x.id = s.target_id

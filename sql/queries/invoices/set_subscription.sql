-- A subscription's state after a pause, resume, cancel or billing run (under its lock).
-- Index: subscriptions primary key.
UPDATE subscriptions
SET status = %(status)s::text, paused_until = %(paused_until)s::date, next_billing_on = %(next_billing_on)s::date,
    ends_on = %(ends_on)s::date, cancel_reason = coalesce(%(cancel_reason)s::text, cancel_reason)
WHERE tenant_id = bizctx_tenant() AND id = %(subscription_id)s::uuid

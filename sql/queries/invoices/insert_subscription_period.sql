-- A billed period and its invoice; the primary key (subscription, period start) refuses a
-- second invoice for the same period whatever raced (migration 0120).
INSERT INTO subscription_periods (tenant_id, subscription_id, period_start, period_end, invoice_id)
VALUES (bizctx_tenant(), %(subscription_id)s::uuid, %(period_start)s::date, %(period_end)s::date,
        %(invoice_id)s::uuid)

-- The business's subscriptions a billing run has work on today: active with a period due, or
-- paused until a day that has come. Index: subscriptions_due_idx (active ones).
SELECT s.id
FROM subscriptions s
WHERE s.tenant_id = bizctx_tenant()
  AND ((s.status = 'active' AND s.next_billing_on <= bizctx_today())
       OR (s.status = 'paused' AND s.paused_until <= bizctx_today()))
ORDER BY s.next_billing_on, s.id

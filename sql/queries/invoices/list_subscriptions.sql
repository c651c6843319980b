-- One keyset page of subscriptions, newest first (or the one asked for), each with its
-- client, items (numbers as text: JSON would make them floats) and last billed period;
-- filters: client, status.
-- Index: subscriptions primary key for one; subscriptions_client_idx for a client's.
SELECT s.id, s.plan_name, s.status, s.billing_interval, s.billing_day, s.currency,
       s.amount,
       s.starts_on, s.ends_on, s.auto_renew, s.next_billing_on, s.paused_until,
       s.cancel_reason, s.cancelled_at, s.created_by_agent_id, s.created_at,
       (SELECT jsonb_agg(jsonb_build_object(
                   'position', i.position, 'description', i.description, 'quantity', i.quantity::text,
                   'unit_price', i.unit_price::text, 'discount_pct', i.discount_pct::text, 'tax_pct', i.tax_pct::text,
                   'service_id', i.service_id) ORDER BY i.position)
        FROM subscription_items i
        WHERE i.tenant_id = s.tenant_id AND i.subscription_id = s.id) AS items,
       (SELECT jsonb_build_object('period_start', p.period_start, 'period_end', p.period_end,
                                  'invoice_id', p.invoice_id)
        FROM subscription_periods p
        WHERE p.tenant_id = s.tenant_id AND p.subscription_id = s.id
        ORDER BY p.period_start DESC LIMIT 1) AS last_billed,
       c.id AS client_id, c.display_name AS client_name, c.email AS client_email,
       coalesce(c.phone, c.mobile_phone) AS client_phone
FROM subscriptions s
JOIN clients c ON c.tenant_id = s.tenant_id AND c.id = s.client_id
WHERE s.tenant_id = bizctx_tenant()
  AND (%(subscription_id)s::uuid IS NULL OR s.id = %(subscription_id)s::uuid)
  AND (%(client_id)s::uuid IS NULL OR s.client_id = %(client_id)s::uuid)
  AND (%(status)s::text IS NULL OR s.status = %(status)s::text)
  AND (%(after_id)s::uuid IS NULL
       OR (s.created_at, s.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY s.created_at DESC, s.id DESC
LIMIT %(limit)s

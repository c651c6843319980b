-- How the client pays and answers, computed from the data: their contacts (last outbound and
-- inbound, outbound in the last 90 days and the share answered within 7 days), and, when the
-- caller may read invoices (with_invoices), how late their paid invoices were paid on average
-- and how many are overdue now. Indexes: client_interactions (tenant_id, client_id,
-- occurred_at), invoices (tenant_id, client_id), payments (tenant_id, invoice_id).
WITH outbound AS (
    SELECT o.occurred_at,
           EXISTS (SELECT 1 FROM client_interactions i
                    WHERE i.tenant_id = o.tenant_id AND i.client_id = o.client_id AND i.direction = 'inbound'
                      AND i.occurred_at > o.occurred_at AND i.occurred_at <= o.occurred_at + interval '7 days')
               AS answered
    FROM client_interactions o
    WHERE o.tenant_id = bizctx_tenant() AND o.client_id = %(client_id)s AND o.direction = 'outbound'
      AND o.occurred_at > now() - interval '90 days'
)
SELECT (SELECT max(occurred_at) FROM client_interactions
         WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND direction = 'outbound') AS last_outbound_at,
       (SELECT max(occurred_at) FROM client_interactions
         WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND direction = 'inbound') AS last_inbound_at,
       (SELECT count(*) FROM outbound) AS outbound_90d,
       (SELECT round(avg(answered::int), 2) FROM outbound) AS response_rate_90d,
       CASE WHEN %(with_invoices)s THEN
           (SELECT round(avg(paid.on - i.due_date), 1)
              FROM invoices i
              CROSS JOIN LATERAL (SELECT max(p.paid_at)::date AS on FROM payments p
                                   WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.id) paid
             WHERE i.tenant_id = bizctx_tenant() AND i.client_id = %(client_id)s AND i.status = 'paid'
               AND i.due_date IS NOT NULL)
       END AS avg_payment_delay_days,
       CASE WHEN %(with_invoices)s THEN
           (SELECT count(*) FROM invoices i
             WHERE i.tenant_id = bizctx_tenant() AND i.client_id = %(client_id)s
               AND i.status IN ('open', 'partial')
               AND i.due_date < (SELECT (now() AT TIME ZONE t.time_zone)::date FROM tenants t
                                  WHERE t.id = bizctx_tenant()))
       END AS overdue_invoices

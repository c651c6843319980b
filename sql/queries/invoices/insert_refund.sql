-- A refund by the calling agent; the refunds_apply trigger checks it against what is left of
-- the payment and moves the invoice's amounts and status in the same statement.
INSERT INTO refunds (tenant_id, payment_id, invoice_id, amount, currency, kind, reason, created_by_agent_id)
VALUES (bizctx_tenant(), %(payment_id)s::uuid, %(invoice_id)s::uuid, %(amount)s::numeric, %(currency)s::char(3),
        %(kind)s::text, %(reason)s::text, bizctx_agent())
RETURNING id, payment_id, amount, currency, kind, reason,
          refunded_at, created_by_agent_id

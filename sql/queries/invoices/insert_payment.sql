-- A payment by the calling agent (refunded nothing yet); the payments_apply trigger raises the invoice's amount_paid
-- and sets partial/paid in the same statement.
INSERT INTO payments (tenant_id, invoice_id, amount, currency, method, reference, paid_at, notes,
                      created_by_agent_id)
VALUES (bizctx_tenant(), %(invoice_id)s::uuid, %(amount)s::numeric, %(currency)s::char(3), %(method)s::text,
        %(reference)s::text, coalesce(%(paid_at)s::timestamptz, now()), %(notes)s::text, bizctx_agent())
RETURNING id, invoice_id, amount, currency, method,
          reference, paid_at, notes, created_by_agent_id, created_at,
          0::numeric AS refunded, '[]'::jsonb AS refunds

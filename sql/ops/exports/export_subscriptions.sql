-- The tenant's subscriptions in import form, items inline; one without an external_ref is
-- named by its id, so an import of the export updates it. Periods billed are not exported
-- (next_billing_on says where billing goes on). Index: subscriptions_client_idx.
SELECT json_build_object(
    'external_ref', coalesce(s.external_ref, s.id::text),
    'client_ref', coalesce(c.external_ref, c.id::text),
    'plan_name', s.plan_name,
    'status', s.status,
    'billing_cycle', CASE s.billing_interval WHEN 'month' THEN 'monthly' WHEN 'quarter' THEN 'quarterly'
                                             ELSE 'annual' END,
    'billing_day', s.billing_day::text,
    'currency', s.currency,
    'starts_on', to_char(s.starts_on, 'YYYY-MM-DD'),
    'ends_on', to_char(s.ends_on, 'YYYY-MM-DD'),
    'auto_renew', s.auto_renew,
    'next_billing_on', to_char(s.next_billing_on, 'YYYY-MM-DD'),
    'paused_until', to_char(s.paused_until, 'YYYY-MM-DD'),
    'cancel_reason', s.cancel_reason,
    'items', coalesce((
        SELECT json_agg(json_strip_nulls(json_build_object(
                   'description', si.description,
                   'quantity', trim_scale(si.quantity)::text,
                   'unit_price', bizctx_import.money_text(si.unit_price, s.currency),
                   'discount_pct', trim_scale(si.discount_pct)::text,
                   'tax_pct', trim_scale(si.tax_pct)::text,
                   'service_code', v.code)) ORDER BY si.position)
        FROM subscription_items si
        LEFT JOIN services v ON v.tenant_id = si.tenant_id AND v.id = si.service_id
        WHERE si.tenant_id = s.tenant_id AND si.subscription_id = s.id), '[]'::json)
) AS record
FROM subscriptions s
JOIN clients c ON c.tenant_id = s.tenant_id AND c.id = s.client_id
WHERE s.tenant_id = %(tenant_id)s
ORDER BY s.starts_on, s.external_ref NULLS LAST, s.id

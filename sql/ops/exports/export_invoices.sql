-- The tenant's invoices in import form, items and payments (with their refunds) inline, with
-- the total the items come to. Index: invoices_issue_date_idx (tenant_id, issue_date DESC, id).
SELECT json_build_object(
    'external_ref', i.external_ref,
    'invoice_number', i.invoice_number,
    'client_ref', coalesce(c.external_ref, c.id::text),
    'status', i.status,
    'issue_date', to_char(i.issue_date, 'YYYY-MM-DD'),
    'due_date', to_char(i.due_date, 'YYYY-MM-DD'),
    'currency', i.currency,
    'notes', i.notes,
    'void_reason', i.void_reason,
    'total', bizctx_import.money_text(i.total, i.currency),
    'items', coalesce((
        SELECT json_agg(json_strip_nulls(json_build_object(
                   'description', ii.description,
                   'quantity', trim_scale(ii.quantity)::text,
                   'unit_price', bizctx_import.money_text(ii.unit_price, i.currency),
                   'discount_pct', trim_scale(ii.discount_pct)::text,
                   'tax_pct', trim_scale(ii.tax_pct)::text,
                   'service_code', v.code,
                   'appointment_ref', coalesce(a.external_ref, a.id::text))) ORDER BY ii.position)
        FROM invoice_items ii
        LEFT JOIN services v ON v.tenant_id = ii.tenant_id AND v.id = ii.service_id
        LEFT JOIN appointments a ON a.tenant_id = ii.tenant_id AND a.id = ii.appointment_id
        WHERE ii.tenant_id = i.tenant_id AND ii.invoice_id = i.id), '[]'::json),
    'payments', coalesce((
        SELECT json_agg(json_strip_nulls(json_build_object(
                   'external_ref', pm.external_ref,
                   'amount', bizctx_import.money_text(pm.amount, pm.currency),
                   'method', pm.method,
                   'paid_at', bizctx_import.iso_timestamp(pm.paid_at, t.time_zone),
                   'reference', pm.reference,
                   'notes', pm.notes,
                   -- Kept so no refund is lost; the importer does not take refunds yet and
                   -- refuses a payment that has them ("unknown key refunds").
                   'refunds', (SELECT json_agg(json_build_object(
                                      'amount', bizctx_import.money_text(r.amount, r.currency),
                                      'kind', r.kind, 'reason', r.reason,
                                      'refunded_at', bizctx_import.iso_timestamp(r.refunded_at, t.time_zone))
                                      ORDER BY r.refunded_at, r.id)
                               FROM refunds r
                               WHERE r.tenant_id = pm.tenant_id AND r.payment_id = pm.id)))
               ORDER BY pm.paid_at, pm.external_ref, pm.id)
        FROM payments pm
        WHERE pm.tenant_id = i.tenant_id AND pm.invoice_id = i.id), '[]'::json)
) AS record
FROM invoices i
JOIN tenants t ON t.id = i.tenant_id
JOIN clients c ON c.tenant_id = i.tenant_id AND c.id = i.client_id
WHERE i.tenant_id = %(tenant_id)s
ORDER BY i.issue_date NULLS LAST, i.invoice_number NULLS LAST, i.external_ref NULLS LAST, i.id

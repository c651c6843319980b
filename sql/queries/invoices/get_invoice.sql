-- One invoice with its client and whether it is overdue in the business time zone (amounts as
-- stored: server/money.py prints them). Index: invoices primary key (tenant_id, id).
SELECT i.id, i.invoice_number, i.status, i.issue_date, i.due_date, i.currency,
       i.subtotal, i.discount_total, i.tax_total, i.total, i.amount_paid, i.credited, i.balance_due,
       bizctx_is_overdue(i.status, i.due_date, d.today) AS overdue,
       bizctx_days_overdue(i.status, i.due_date, d.today) AS days_overdue,
       i.notes, i.void_reason, i.voided_at, i.created_at, i.updated_at,
       c.id AS client_id, c.display_name AS client_name, c.email AS client_email,
       coalesce(c.phone, c.mobile_phone) AS client_phone
FROM invoices i
CROSS JOIN (SELECT bizctx_today() AS today) d
JOIN clients c ON c.tenant_id = i.tenant_id AND c.id = i.client_id
WHERE i.tenant_id = bizctx_tenant() AND i.id = %(invoice_id)s::uuid

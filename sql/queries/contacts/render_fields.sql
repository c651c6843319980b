-- What a template's placeholders are filled with: the business, a live client, and an
-- appointment or invoice of that client when named (NULLs when not theirs or not found);
-- dates and times in the business's zone, money as stored (contacts.py prints it).
-- Indexes: the primary keys.
SELECT t.name AS business_name,
       c.id AS client_id, c.display_name AS client_name,
       coalesce(c.first_name, c.display_name) AS client_first_name,
       c.email AS client_email, coalesce(c.mobile_phone, c.phone) AS client_mobile,
       coalesce(c.phone, c.mobile_phone) AS client_phone,
       a.id AS appointment_id,
       to_char(a.starts_at AT TIME ZONE t.time_zone, 'FMDay DD FMMonth YYYY') AS appointment_date,
       to_char(a.starts_at AT TIME ZONE t.time_zone, 'HH24:MI') AS appointment_time,
       s.name AS service_name,
       i.id AS invoice_id, i.invoice_number,
       i.total AS invoice_total, i.balance_due AS invoice_balance,
       i.due_date AS invoice_due_date, i.currency
FROM tenants t
JOIN clients c ON c.tenant_id = t.id AND c.id = %(client_id)s AND c.deleted_at IS NULL
LEFT JOIN appointments a ON a.tenant_id = t.id AND a.id = %(appointment_id)s AND a.client_id = c.id
LEFT JOIN services s ON s.tenant_id = t.id AND s.id = a.service_id
LEFT JOIN invoices i ON i.tenant_id = t.id AND i.id = %(invoice_id)s AND i.client_id = c.id
WHERE t.id = bizctx_tenant()

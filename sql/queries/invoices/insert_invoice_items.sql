-- All lines of a new invoice in one statement, numbered 1..n in the order given; the
-- invoice_items_compute trigger computes net, tax and total, invoice_items_totals the invoice.
-- Index: invoice_items (tenant_id, invoice_id, position) unique.
INSERT INTO invoice_items (tenant_id, invoice_id, position, description, quantity, unit_price,
                           discount_pct, tax_pct, service_id, appointment_id)
SELECT bizctx_tenant(), %(invoice_id)s::uuid, x.position::integer, x.description, x.quantity, x.unit_price,
       x.discount_pct, x.tax_pct, x.service_id, x.appointment_id
FROM unnest(%(descriptions)s::text[], %(quantities)s::numeric[], %(unit_prices)s::numeric[],
            %(discount_pcts)s::numeric[], %(tax_pcts)s::numeric[], %(service_ids)s::uuid[],
            %(appointment_ids)s::uuid[])
     WITH ORDINALITY AS x(description, quantity, unit_price, discount_pct, tax_pct, service_id,
                          appointment_id, position)
ORDER BY x.position

-- One line of a demo invoice (the trigger computes its amounts and the invoice totals).
-- Index: invoice_items (tenant_id, invoice_id, position).
INSERT INTO invoice_items (tenant_id, invoice_id, position, description, quantity, unit_price, discount_pct, tax_pct,
                           service_id)
VALUES (%(tenant_id)s, %(invoice_id)s, %(position)s, %(description)s, %(quantity)s, %(unit_price)s,
        %(discount_pct)s, %(tax_pct)s, %(service_id)s)

-- Services carry the tax rate their price is sold at, so an invoice line that names a service
-- can take both from the catalog (tools/invoices.py: create_invoice); 0 until an operator's
-- import sets it, which is what every line had before unless the caller typed one.
ALTER TABLE services ADD COLUMN tax_pct numeric(7, 4) NOT NULL DEFAULT 0
    CONSTRAINT services_tax_pct_check CHECK (tax_pct BETWEEN 0 AND 100);

-- Services files may carry it (bizctx import services: tax_pct).
ALTER TABLE bizctx_import.services ADD COLUMN tax_pct text;

INSERT INTO tool_capabilities (tool_name, capability) VALUES
    ('issue_invoice', 'invoices.write');

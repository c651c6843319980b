-- One demo service of the catalog; returns its id.
-- Index: services (tenant_id, code).
INSERT INTO services (tenant_id, code, name, description, duration_minutes, price, currency, required_capabilities,
                      external_ref)
VALUES (%(tenant_id)s, %(code)s, %(name)s, %(description)s, %(duration_minutes)s, %(price)s, 'USD',
        %(required_capabilities)s, %(external_ref)s)
RETURNING id

-- One demo client address.
-- Index: client_addresses primary key.
INSERT INTO client_addresses (tenant_id, client_id, kind, line1, city, region, postal_code, country, access_notes,
                              is_primary)
VALUES (%(tenant_id)s, %(client_id)s, %(kind)s, %(line1)s, %(city)s, %(region)s, %(postal_code)s, 'US',
        %(access_notes)s, %(is_primary)s)

-- One demo appointment (scheduled); returns its id. Its status moves on with set_appointment_status.
-- Index: appointments (tenant_id, external_ref).
INSERT INTO appointments (tenant_id, client_id, service_id, starts_at, ends_at, location, price, currency,
                          external_ref)
VALUES (%(tenant_id)s, %(client_id)s, %(service_id)s, %(starts_at)s, %(ends_at)s, %(location)s, %(price)s, 'USD',
        %(external_ref)s)
RETURNING id

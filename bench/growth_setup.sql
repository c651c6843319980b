-- The growth benchmark's tenants (bench/growth_bench.py made them and their agents through the
-- operators' API): one service each, and the table bench/growth_data.sql deals rows out from.
-- Slot 0 is the measured tenant ('growth-0'); the others are its neighbours in the database.
INSERT INTO services (tenant_id, code, name, duration_minutes, price, currency)
SELECT id, 'clean', 'Cleaning', 60, 80, 'USD' FROM tenants WHERE name LIKE 'growth-%';

CREATE TABLE growth_tenants AS
SELECT (row_number() OVER (ORDER BY t.name) - 1)::int AS slot, t.id AS tenant_id, s.id AS service_id,
       a.id AS agent_id
FROM tenants t
JOIN services s ON s.tenant_id = t.id AND s.code = 'clean'
JOIN agents a ON a.tenant_id = t.id AND a.name = 'writer'
WHERE t.name LIKE 'growth-%';

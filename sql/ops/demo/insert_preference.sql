-- One demo client preference.
-- Index: client_preferences (tenant_id, client_id, key).
INSERT INTO client_preferences (tenant_id, client_id, key, value)
VALUES (%(tenant_id)s, %(client_id)s, %(key)s, %(value)s)

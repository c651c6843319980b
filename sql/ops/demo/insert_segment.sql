-- One demo segment; returns its id.
-- Index: client_segments (tenant_id, name).
INSERT INTO client_segments (tenant_id, name, description)
VALUES (%(tenant_id)s, %(name)s, %(description)s)
RETURNING id

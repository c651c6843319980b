-- One demo resource (staff or equipment); returns its id.
-- Index: resources (tenant_id, external_ref).
INSERT INTO resources (tenant_id, kind, name, capabilities, email, external_ref)
VALUES (%(tenant_id)s, %(kind)s, %(name)s, %(capabilities)s, %(email)s, %(external_ref)s)
RETURNING id

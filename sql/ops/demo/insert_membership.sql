-- A demo client joins a segment.
-- Index: client_segment_memberships primary key.
INSERT INTO client_segment_memberships (tenant_id, segment_id, client_id)
VALUES (%(tenant_id)s, %(segment_id)s, %(client_id)s)

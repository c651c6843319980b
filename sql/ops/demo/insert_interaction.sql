-- One demo interaction in a client's history.
-- Index: client_interactions primary key.
INSERT INTO client_interactions (tenant_id, client_id, channel, direction, summary, content, occurred_at)
VALUES (%(tenant_id)s, %(client_id)s, %(channel)s, %(direction)s, %(summary)s, %(content)s, %(occurred_at)s)

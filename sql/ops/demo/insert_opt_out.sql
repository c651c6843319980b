-- One demo opt-out.
-- Index: opt_outs (tenant_id, client_id, channel).
INSERT INTO opt_outs (tenant_id, client_id, channel, reason)
VALUES (%(tenant_id)s, %(client_id)s, %(channel)s, %(reason)s)

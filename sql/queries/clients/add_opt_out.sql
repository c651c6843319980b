-- Records that a client must not be contacted on a channel, for good (until NULL) or until a
-- time; a new opt-out of the channel replaces the old one's end. Index: opt_outs (tenant_id,
-- client_id, channel).
INSERT INTO opt_outs (tenant_id, client_id, channel, reason, until)
VALUES (bizctx_tenant(), %(client_id)s, %(channel)s, %(reason)s, %(until)s)
ON CONFLICT (tenant_id, client_id, channel)
DO UPDATE SET reason = coalesce(EXCLUDED.reason, opt_outs.reason), until = EXCLUDED.until

-- Records that a client must not be contacted on a channel. Index: opt_outs (tenant_id, client_id, channel).
INSERT INTO opt_outs (tenant_id, client_id, channel, reason)
VALUES (bizctx_tenant(), %(client_id)s, %(channel)s, %(reason)s)
ON CONFLICT (tenant_id, client_id, channel) DO UPDATE SET reason = coalesce(EXCLUDED.reason, opt_outs.reason)

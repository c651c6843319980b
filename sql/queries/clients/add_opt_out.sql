-- Records that a client must not be contacted on a channel, for good (until NULL) or until a
-- time; said again, it never gets shorter (bizctx_longer_opt_out) and is said now. The
-- opt_outs trigger keeps it by address too. Index: opt_outs (tenant_id, client_id, channel).
INSERT INTO opt_outs (tenant_id, client_id, channel, reason, until)
VALUES (bizctx_tenant(), %(client_id)s, %(channel)s, %(reason)s, %(until)s)
ON CONFLICT (tenant_id, client_id, channel)
DO UPDATE SET reason = coalesce(EXCLUDED.reason, opt_outs.reason),
              until = bizctx_longer_opt_out(opt_outs.until, EXCLUDED.until),
              said_at = now()

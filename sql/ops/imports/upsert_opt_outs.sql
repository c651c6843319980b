-- Records each listed opt-out of imported clients (channel, reason); unchanged ones are
-- not touched. Index: opt_outs (tenant_id, client_id, channel) unique, the conflict target.
INSERT INTO opt_outs AS o (tenant_id, client_id, channel, reason)
SELECT %(tenant_id)s, r.client_id, r.channel, r.reason
FROM bizctx_import.client_opt_out_rows r
ORDER BY r.line, r.n
ON CONFLICT (tenant_id, client_id, channel) DO UPDATE SET reason = excluded.reason
WHERE o.reason IS DISTINCT FROM excluded.reason

-- Removes opt-outs of imported clients that their row's opt_outs no longer lists (only for
-- rows with an opt_outs value). Index: opt_outs (tenant_id, client_id, channel).
DELETE FROM opt_outs o
USING bizctx_import.clients s
WHERE o.tenant_id = %(tenant_id)s AND o.client_id = s.id AND s.opt_outs IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM bizctx_import.client_opt_out_rows r
                  WHERE r.client_id = o.client_id AND r.channel = o.channel)

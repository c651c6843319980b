-- Lifts an opt-out (the client agreed to be contacted again). Index: opt_outs (tenant_id, client_id, channel).
DELETE FROM opt_outs WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND channel = %(channel)s

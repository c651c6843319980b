-- Lifts an opt-out, the client's and the one kept for its addresses by its own opt-out, when
-- the client asked for it in an inbound interaction of theirs made (and recorded) after they
-- last said it; what the cited interaction is: 'lifted' (also when there was none to lift),
-- 'not_inbound' (not an inbound interaction of this client) or 'before' (older than the
-- opt-out). Indexes: client_interactions primary key, opt_outs (tenant_id, client_id,
-- channel), opt_out_addresses primary key.
WITH cited AS (
    SELECT i.occurred_at, i.created_at FROM client_interactions i
     WHERE i.tenant_id = bizctx_tenant() AND i.id = %(inbound_interaction_id)s
       AND i.client_id = %(client_id)s AND i.direction = 'inbound'
),
standing AS (
    SELECT o.said_at FROM opt_outs o
     WHERE o.tenant_id = bizctx_tenant() AND o.client_id = %(client_id)s AND o.channel = %(channel)s
),
verdict AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM cited) THEN 'not_inbound'
                WHEN EXISTS (SELECT 1 FROM standing s, cited c
                              WHERE c.occurred_at <= s.said_at OR c.created_at <= s.said_at) THEN 'before'
                ELSE 'lifted' END AS answer
),
own AS (
    DELETE FROM opt_outs
     WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND channel = %(channel)s
       AND (SELECT answer FROM verdict) = 'lifted'
),
kept AS (
    DELETE FROM opt_out_addresses
     WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND channel = %(channel)s
       AND (SELECT answer FROM verdict) = 'lifted'
)
SELECT answer FROM verdict

-- Lifts an opt-out, the client's and the one kept for its addresses, only when the client
-- asked for it in an inbound interaction of theirs; whether they did. Indexes:
-- client_interactions primary key, opt_outs (tenant_id, client_id, channel), opt_out_addresses
-- primary key.
WITH asked AS (
    SELECT 1 FROM client_interactions
     WHERE tenant_id = bizctx_tenant() AND id = %(inbound_interaction_id)s AND client_id = %(client_id)s
       AND direction = 'inbound'
),
client AS (
    SELECT ARRAY[email, bizctx_phone_digits(phone), bizctx_phone_digits(mobile_phone)] AS addresses
      FROM clients WHERE tenant_id = bizctx_tenant() AND id = %(client_id)s
),
own AS (
    DELETE FROM opt_outs
     WHERE tenant_id = bizctx_tenant() AND client_id = %(client_id)s AND channel = %(channel)s
       AND EXISTS (SELECT 1 FROM asked)
),
kept AS (
    DELETE FROM opt_out_addresses a USING client
     WHERE a.tenant_id = bizctx_tenant() AND a.channel = %(channel)s AND a.address = ANY (client.addresses)
       AND EXISTS (SELECT 1 FROM asked)
)
SELECT EXISTS (SELECT 1 FROM asked) AS asked

-- Each staged subscription: its client, the subscription it updates (by external_ref, or by
-- id: the export gives a subscription without an external_ref its id) and the id it will have.
-- Index: clients / subscriptions (tenant_id, external_ref) and primary keys.
UPDATE bizctx_import.subscriptions s
SET (client_id, target_id, id) = (
    SELECT m.client_id, m.target_id, coalesce(m.target_id, gen_random_uuid())
    FROM (SELECT coalesce((SELECT c.id FROM clients c
                           WHERE c.tenant_id = %(tenant_id)s AND c.external_ref = btrim(s.client_ref)),
                          (SELECT c.id FROM clients c
                           WHERE c.tenant_id = %(tenant_id)s AND c.id = bizctx_import.ref_id(s.client_ref)))
                     AS client_id,
                 coalesce((SELECT x.id FROM subscriptions x
                           WHERE x.tenant_id = %(tenant_id)s AND x.external_ref = btrim(s.external_ref)),
                          (SELECT x.id FROM subscriptions x
                           WHERE x.tenant_id = %(tenant_id)s AND x.id = bizctx_import.ref_id(s.external_ref)))
                     AS target_id) m)

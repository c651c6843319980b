-- Each staged client: the client it updates (by external_ref; else the live client with its
-- e-mail, when that client has no other external_ref) and the id it will have.
-- Index: clients (tenant_id, external_ref) unique, clients_email_key.
UPDATE bizctx_import.clients s
SET (target_id, id) = (
    SELECT m.target_id, coalesce(m.target_id, gen_random_uuid())
    FROM (SELECT coalesce(
              (SELECT c.id FROM clients c
               WHERE c.tenant_id = %(tenant_id)s AND c.external_ref = btrim(s.external_ref)),
              (SELECT c.id FROM clients c
               WHERE c.tenant_id = %(tenant_id)s AND lower(c.email) = lower(btrim(s.email))
                 AND c.deleted_at IS NULL AND c.email IS NOT NULL
                 AND (c.external_ref IS NULL OR s.external_ref IS NULL))) AS target_id) m)

-- Client ids for a `{client_id}` completion: clients whose name, or e-mail when it is not
-- redacted for the caller (with_email), starts with what was typed, or whose id does.
-- Name order, at most 101 (the caller shows 100 and says whether there are more).
SELECT id::text AS value
FROM clients
WHERE tenant_id = bizctx_tenant() AND deleted_at IS NULL
  AND (starts_with(lower(display_name), lower(%(prefix)s))
       OR (%(with_email)s AND starts_with(email, lower(%(prefix)s)))
       OR starts_with(id::text, lower(%(prefix)s)))
ORDER BY display_name, id
LIMIT 101

-- Client names for a prompt's client argument: names starting with what was typed, or the
-- e-mail itself when it starts so and is not redacted for the caller (with_email).
SELECT value
FROM (SELECT display_name AS value FROM clients
      WHERE tenant_id = bizctx_tenant() AND deleted_at IS NULL
        AND starts_with(lower(display_name), lower(%(prefix)s))
      UNION
      SELECT email FROM clients
      WHERE %(with_email)s AND tenant_id = bizctx_tenant() AND deleted_at IS NULL
        AND starts_with(email, lower(%(prefix)s))) matches
ORDER BY value
LIMIT 101

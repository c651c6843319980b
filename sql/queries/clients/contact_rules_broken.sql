-- The contact rules a contact of this client on this channel at this instant would break
-- (migration 0075): opt-outs in force, quiet hours, frequency caps; for a contact of this
-- category (NULL: unknown, every rule applies).
SELECT rule, action, reason, next_allowed_at
FROM bizctx_contact_rules_broken(%(client_id)s, %(channel)s, %(at)s, %(category)s)
ORDER BY CASE action WHEN 'block' THEN 0 WHEN 'require_approval' THEN 1 ELSE 2 END, rule

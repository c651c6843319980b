-- A new agent; the key itself is never stored, only its hash and visible prefix.
INSERT INTO agents (tenant_id, name, key_prefix, key_hash, access_patterns)
VALUES (%(tenant_id)s, %(name)s, %(key_prefix)s, %(key_hash)s, %(access_patterns)s)
RETURNING tenant_id, id, name, key_prefix, status, access_patterns, created_at

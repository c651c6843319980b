-- Audit rows of a time range (from starts_at, when given, to before before), optionally of
-- one tenant, one JSON line each: to_jsonb of the whole row, every column with its exact value
-- (jsonb_populate_record(NULL::audit_logs, line) gives the row back). In storage order, about
-- oldest first; the range's partitions only (the bounds prune the others).
SELECT to_jsonb(l)::text AS line
FROM audit_logs l
WHERE (%(starts_at)s::timestamptz IS NULL OR l.occurred_at >= %(starts_at)s::timestamptz)
  AND l.occurred_at < %(before)s::timestamptz
  AND (%(tenant_id)s::uuid IS NULL OR l.tenant_id = %(tenant_id)s::uuid)

-- A resource's time off. Index: resource_unavailability_during_idx.
INSERT INTO resource_unavailability (tenant_id, resource_id, during, reason)
VALUES (bizctx_tenant(), %(resource_id)s::uuid,
        tstzrange(%(starts_at)s::timestamptz, %(ends_at)s::timestamptz), %(reason)s::text)
RETURNING id, resource_id, lower(during) AS starts_at, upper(during) AS ends_at, reason

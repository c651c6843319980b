-- One stretch of time off of a demo resource.
-- Index: resource_unavailability primary key.
INSERT INTO resource_unavailability (tenant_id, resource_id, during, reason)
VALUES (%(tenant_id)s, %(resource_id)s, tstzrange(%(starts_at)s, %(ends_at)s), %(reason)s)

-- One weekly working window of a demo resource (ISO weekday, local times).
-- Index: resource_availability primary key.
INSERT INTO resource_availability (tenant_id, resource_id, weekday, start_time, end_time)
VALUES (%(tenant_id)s, %(resource_id)s, %(weekday)s, %(start_time)s, %(end_time)s)

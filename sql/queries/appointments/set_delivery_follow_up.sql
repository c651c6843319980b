-- The follow-up task a delivery created. Index: service_deliveries primary key.
UPDATE service_deliveries SET follow_up_task_id = %(task_id)s::uuid
WHERE tenant_id = bizctx_tenant() AND id = %(delivery_id)s::uuid

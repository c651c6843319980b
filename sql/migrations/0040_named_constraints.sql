-- Constraints that handlers turn into better errors get names of their own.
--
-- Why: handlers told a foreign key on a service from one on an appointment by looking for
-- "service" in the name PostgreSQL generated (invoice_items_tenant_id_service_id_fkey).
-- Such names change with the column list, and nothing noticed a handler matching a name
-- that no longer existed. Now each mapped constraint has a stable name, each handler
-- declares the names it maps (Domain.constraint), and a test checks them in the catalog.
ALTER TABLE clients RENAME CONSTRAINT clients_tenant_id_external_ref_key TO clients_external_ref_key;
ALTER TABLE tasks RENAME CONSTRAINT tasks_tenant_id_assignee_agent_id_fkey TO tasks_assignee_fk;
ALTER TABLE tasks RENAME CONSTRAINT tasks_tenant_id_client_id_fkey TO tasks_client_fk;
ALTER TABLE tasks RENAME CONSTRAINT tasks_tenant_id_appointment_id_fkey TO tasks_appointment_fk;
ALTER TABLE tasks RENAME CONSTRAINT tasks_tenant_id_invoice_id_fkey TO tasks_invoice_fk;
ALTER TABLE mem_docs RENAME CONSTRAINT mem_docs_tenant_id_client_id_fkey TO mem_docs_client_fk;
ALTER TABLE mem_docs RENAME CONSTRAINT mem_docs_tenant_id_task_id_fkey TO mem_docs_task_fk;
ALTER TABLE invoice_items RENAME CONSTRAINT invoice_items_tenant_id_service_id_fkey TO invoice_items_service_fk;
ALTER TABLE invoice_items RENAME CONSTRAINT invoice_items_tenant_id_appointment_id_fkey
    TO invoice_items_appointment_fk;

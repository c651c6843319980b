-- Task and mem_docs scopes are row policies, held by the database.
--
-- Why: an agent's scope (tasks: all | assigned; mem_docs: own | own_and_shared | all) was
-- a condition every query had to repeat (`%(scope)s = 'all' OR assignee_agent_id = ...`,
-- in 15 files, with two Python fallbacks that disagreed), and list_task_events had none at
-- all: it was safe only because its callers looked the task up first. Nothing would have
-- noticed a new query that forgot it. Now the guard sets the agent's scopes in the same
-- statement that sets its role and tenant (app.tasks_scope, app.mem_docs_scope), and these
-- RESTRICTIVE policies (ANDed with tenant isolation) hide every row outside them, in every
-- query. A missing setting is the narrowest scope. A test fails on any table with an
-- assignee or owner column, or a task reference, that has no scope policy.

CREATE FUNCTION bizctx_task_in_scope(assignee uuid, creator uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT current_setting('app.tasks_scope', true) = 'all'
           OR assignee = bizctx_agent() OR creator = bizctx_agent()
$$;

CREATE FUNCTION bizctx_mem_doc_in_scope(owner uuid, visibility text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE current_setting('app.mem_docs_scope', true)
               WHEN 'all' THEN true
               WHEN 'own_and_shared' THEN owner = bizctx_agent() OR visibility = 'shared'
               ELSE owner = bizctx_agent()
           END
$$;

CREATE POLICY task_scope ON tasks AS RESTRICTIVE TO bizctx_app
    USING (bizctx_task_in_scope(assignee_agent_id, created_by_agent_id))
    WITH CHECK (bizctx_task_in_scope(assignee_agent_id, created_by_agent_id));

-- A task's events, approvals and dead letter are seen through the task (its policies apply
-- to the subquery, scope included).
CREATE POLICY task_scope ON task_events AS RESTRICTIVE TO bizctx_app
    USING (EXISTS (SELECT 1 FROM tasks t WHERE t.tenant_id = task_events.tenant_id AND t.id = task_events.task_id))
    WITH CHECK (EXISTS (SELECT 1 FROM tasks t
                        WHERE t.tenant_id = task_events.tenant_id AND t.id = task_events.task_id));
CREATE POLICY task_scope ON approval_events AS RESTRICTIVE TO bizctx_app
    USING (EXISTS (SELECT 1 FROM tasks t
                   WHERE t.tenant_id = approval_events.tenant_id AND t.id = approval_events.task_id))
    WITH CHECK (EXISTS (SELECT 1 FROM tasks t
                        WHERE t.tenant_id = approval_events.tenant_id AND t.id = approval_events.task_id));
CREATE POLICY task_scope ON dead_letters AS RESTRICTIVE TO bizctx_app
    USING (EXISTS (SELECT 1 FROM tasks t WHERE t.tenant_id = dead_letters.tenant_id AND t.id = dead_letters.task_id))
    WITH CHECK (EXISTS (SELECT 1 FROM tasks t
                        WHERE t.tenant_id = dead_letters.tenant_id AND t.id = dead_letters.task_id));

CREATE POLICY mem_doc_scope ON mem_docs AS RESTRICTIVE TO bizctx_app
    USING (bizctx_mem_doc_in_scope(owner_agent_id, visibility))
    WITH CHECK (bizctx_mem_doc_in_scope(owner_agent_id, visibility));
-- Seeing a shared document is not owning it: only its owner (or scope all) deletes it.
CREATE POLICY mem_doc_delete ON mem_docs AS RESTRICTIVE FOR DELETE TO bizctx_app
    USING (owner_agent_id = bizctx_agent() OR current_setting('app.mem_docs_scope', true) = 'all');

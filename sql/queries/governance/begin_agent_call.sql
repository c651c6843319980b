-- Opens every agent call: role bizctx_app (RLS applies), tenant and agent for the policies,
-- the agent's task and mem_docs scopes (read by their restrictive policies), and a statement
-- timeout, all transaction-local (set_config(..., true) is SET LOCAL).
SELECT set_config('role', 'bizctx_app', true),
       set_config('app.tenant_id', %(tenant_id)s, true),
       set_config('app.agent_id', %(agent_id)s, true),
       set_config('app.tasks_scope', %(tasks_scope)s, true),
       set_config('app.mem_docs_scope', %(mem_docs_scope)s, true),
       set_config('statement_timeout', %(statement_timeout)s, true)

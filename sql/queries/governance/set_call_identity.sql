-- Whose call the rest of the transaction runs (an approved call runs as its requester, with
-- the requester's scopes, inside the approver's transaction), transaction-local.
SELECT set_config('app.agent_id', %(agent_id)s, true),
       set_config('app.tasks_scope', %(tasks_scope)s, true),
       set_config('app.mem_docs_scope', %(mem_docs_scope)s, true)

-- Keeps the held call of an approval task, and records the request (approval_events), by the
-- calling agent. Index: approval_calls primary key.
WITH held AS (
    INSERT INTO approval_calls (tenant_id, task_id, tool, arguments, requested_by_agent_id, transport,
                                policy_id, policy, idempotency_key)
    VALUES (bizctx_tenant(), %(task_id)s::uuid, %(tool)s::text, %(arguments)s::jsonb, bizctx_agent(),
            %(transport)s::text, %(policy_id)s::uuid, %(policy)s::jsonb, %(idempotency_key)s::text)
    RETURNING task_id
)
INSERT INTO approval_events (tenant_id, task_id, decision, requested_by_agent_id, reason)
SELECT bizctx_tenant(), task_id, 'requested', bizctx_agent(), %(reason)s::text FROM held

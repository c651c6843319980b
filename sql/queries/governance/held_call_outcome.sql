-- What became of a held call (for a retry with the gated call's key): its status, result or
-- error, the decision's reason and the policy. Index: approval_calls primary key.
SELECT c.tool, c.status, c.result, c.error, c.reason,
       (SELECT to_jsonb(p) - 'tenant_id' FROM policies p
        WHERE p.tenant_id = c.tenant_id AND p.id = c.policy_id) AS policy
FROM approval_calls c
WHERE c.tenant_id = bizctx_tenant() AND c.task_id = %(task_id)s::uuid

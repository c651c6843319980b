-- What became of a held call (for a retry with the gated call's key): its status (expired once
-- undecided past its 7 days), result or error, the decision's reason and the policy as the
-- requester was told it. Index: approval_calls primary key.
SELECT c.tool, c.result, c.error, c.reason, c.policy,
       CASE WHEN c.status = 'pending' AND c.created_at <= now() - interval '7 days' THEN 'expired'
            ELSE c.status END AS status
FROM approval_calls c
WHERE c.tenant_id = bizctx_tenant() AND c.task_id = %(task_id)s::uuid

-- A tenant's policy version and its policies, oldest first, amounts as text (exact; JSON numbers
-- would come back as floats), for the guard's cache (an operator connection).
-- Index: policies_tool_idx (tenant_id, tool).
SELECT t.policy_version AS version,
       coalesce((SELECT jsonb_agg((to_jsonb(p) - 'tenant_id') || jsonb_build_object('max_amount', p.max_amount::text)
                                  ORDER BY p.created_at, p.id)
                 FROM policies p WHERE p.tenant_id = t.id), '[]'::jsonb) AS policies
FROM tenants t
WHERE t.id = %(tenant_id)s::uuid

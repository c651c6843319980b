-- Opens an agent call in ONE statement (a message and a packet fewer per call than
-- begin_agent_call followed by check_policy_version): the same transaction-local settings,
-- plus the commit's durability, then the policy-version check. The settings sit in a subquery
-- that OFFSET 0 keeps from being flattened, so they are in force before the check reads the
-- tenant (bizctx_tenant()); a null policy_version skips the check (BZ010 when stale), and a
-- null synchronous_commit keeps the database's own setting.
SELECT CASE WHEN %(policy_version)s::bigint IS NULL THEN true
            ELSE bizctx_expect_policy_version(%(policy_version)s::bigint) END AS policies_current
FROM (SELECT set_config('role', 'bizctx_app', true),
             set_config('app.tenant_id', %(tenant_id)s, true),
             set_config('app.agent_id', %(agent_id)s, true),
             set_config('app.tasks_scope', %(tasks_scope)s, true),
             set_config('app.mem_docs_scope', %(mem_docs_scope)s, true),
             set_config('statement_timeout', %(statement_timeout)s, true),
             set_config('synchronous_commit',
                        coalesce(%(synchronous_commit)s, current_setting('synchronous_commit')), true)
      OFFSET 0) AS call_settings

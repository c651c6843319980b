-- Sent with every tool call's opening statement: fails (BZ010) when the server's cached
-- policies are not the tenant's current ones, so the guard reloads them and runs the call again.
SELECT bizctx_expect_policy_version(%(policy_version)s::bigint)

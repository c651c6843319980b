-- One audit row. It returns none of the row (bizctx_app may insert audit rows but not read
-- them): only the transaction's live-update hints so far (migration 0155). The audit row is a
-- call's last statement before COMMIT, so this saves the separate live_hints statement (a
-- message and a packet per call); the database layer reads them from here (Query.reads_live_hints).
-- With database_time, duration_ms is the call's time until its statements were sent, and the row
-- adds what its transaction has spent in the database since (a row sent with the call's one
-- statement, before its rows came back: Tx.commit_with_next_read).
INSERT INTO audit_logs (tenant_id, agent_id, request_id, transport, kind, name, entity_type, entity_id,
                        outcome, error_code, duration_ms, arguments, replayed, approval_task_id, rule)
VALUES (%(tenant_id)s, %(agent_id)s, %(request_id)s, %(transport)s, %(kind)s, %(name)s, %(entity_type)s,
        %(entity_id)s, %(outcome)s, %(error_code)s,
        %(duration_ms)s + CASE WHEN %(database_time)s THEN extract(epoch FROM clock_timestamp() - now()) * 1000
                               ELSE 0 END,
        %(arguments)s, %(replayed)s,
        %(approval_task_id)s, %(rule)s)
RETURNING current_setting('bizctx.live', true) AS bizctx_live

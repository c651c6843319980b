-- One audit row. It returns none of the row (bizctx_app may insert audit rows but not read
-- them): only the transaction's live-update hints so far (migration 0155). The audit row is a
-- call's last statement before COMMIT, so this saves the separate live_hints statement (a
-- message and a packet per call); the database layer reads them from here (Query.reads_live_hints).
INSERT INTO audit_logs (tenant_id, agent_id, request_id, transport, kind, name, entity_type, entity_id,
                        outcome, error_code, duration_ms, arguments, replayed, approval_task_id, rule)
VALUES (%(tenant_id)s, %(agent_id)s, %(request_id)s, %(transport)s, %(kind)s, %(name)s, %(entity_type)s,
        %(entity_id)s, %(outcome)s, %(error_code)s, %(duration_ms)s, %(arguments)s, %(replayed)s,
        %(approval_task_id)s, %(rule)s)
RETURNING current_setting('bizctx.live', true) AS bizctx_live

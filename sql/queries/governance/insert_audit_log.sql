-- One audit row. No RETURNING: bizctx_app may insert audit rows but not read them.
INSERT INTO audit_logs (tenant_id, agent_id, request_id, transport, kind, name, entity_type, entity_id,
                        outcome, error_code, duration_ms, arguments, replayed, approval_task_id, rule)
VALUES (%(tenant_id)s, %(agent_id)s, %(request_id)s, %(transport)s, %(kind)s, %(name)s, %(entity_type)s,
        %(entity_id)s, %(outcome)s, %(error_code)s, %(duration_ms)s, %(arguments)s, %(replayed)s,
        %(approval_task_id)s, %(rule)s)

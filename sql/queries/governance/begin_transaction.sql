-- Opens a transaction (sent in one round trip with begin_agent_call).
BEGIN

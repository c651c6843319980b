-- Subscribes a server to agent, grant and tool-map changes (see bizctx_notify_agents_changed).
LISTEN bizctx_agents_changed

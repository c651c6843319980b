"""MCP tools, one module per domain."""

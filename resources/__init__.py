"""MCP resources, one module per domain."""

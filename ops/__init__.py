"""Operator tooling: the CLI, tenants and agents, import and export, the demo, the embedded PostgreSQL."""

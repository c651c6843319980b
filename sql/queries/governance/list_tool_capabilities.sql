-- The tool -> capability map operators may edit.
SELECT tool_name, capability FROM tool_capabilities ORDER BY tool_name

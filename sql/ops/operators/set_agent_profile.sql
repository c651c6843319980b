-- An agent's place in the directory: role, description and parent (each kept when not given;
-- clear_parent removes the parent). Index: agents primary key.
UPDATE agents
SET role = coalesce(%(role)s::text, role),
    description = coalesce(%(description)s::text, description),
    parent_agent_id = CASE WHEN %(clear_parent)s::boolean THEN NULL
                           ELSE coalesce(%(parent_agent_id)s::uuid, parent_agent_id) END
WHERE tenant_id = %(tenant_id)s AND id = %(agent_id)s

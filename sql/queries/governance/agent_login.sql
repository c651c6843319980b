-- The role agent calls log in as, and its password (migration 0070); no row when the owner
-- could not create it. Only the owner may read this table.
SELECT role_name, password FROM agent_login

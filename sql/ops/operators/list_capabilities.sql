-- Every capability that can be granted.
SELECT name, description FROM capabilities ORDER BY name

-- What the role agent calls log in as could do without SET ROLE: a superuser or BYPASSRLS
-- login, or one owning tenant tables, would make isolation rest on SET ROLE alone.
SELECT r.rolname AS role_name,
       r.rolsuper OR r.rolbypassrls AS bypasses_rls,
       EXISTS (SELECT 1 FROM pg_class c
                WHERE c.relowner = r.oid AND c.relrowsecurity) AS owns_tables
  FROM pg_roles r
 WHERE r.rolname = current_user

-- Agent calls log in as a role of their own that can do nothing but become bizctx_app
-- (PostgREST's "authenticator" pattern).
--
-- Why: until now the pool logged in as whoever ran the migrations (the embedded server's
-- superuser), and tenant isolation rested on the SET LOCAL ROLE bizctx_app each call opens
-- with. A call that forgot it, or a bug that reset it, would run as the owner: RLS does not
-- apply to a superuser, nor (FORCE aside) to the tables' owner. The login role is not a
-- superuser, owns nothing, and is NOINHERIT: without SET ROLE it may not read a single row,
-- and the only role it may become is bizctx_app.
--
-- One login role per database (roles are per cluster; a test server holds many bizctx
-- databases), named after the database and a hash of its whole name, so two databases whose
-- names share a long prefix never share (or re-password) one role. Its password is random,
-- made here, and kept in agent_login, a table only the owner can read, so every server
-- process of this database finds the same one. The server must accept a password for it
-- (md5/scram, or trust) over the DSN's connection: `peer` or `ident` lines reject it, and
-- start-up then says so (server/app.py). Creating a role needs CREATEROLE (or a superuser):
-- an owner without it gets a NOTICE, no agent_login row, and a server that logs in as the
-- owner and says so at start-up (README: "Least privilege in the database").
CREATE TABLE agent_login (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    role_name name NOT NULL,
    password text NOT NULL
);
REVOKE ALL ON agent_login FROM PUBLIC;

DO $$
DECLARE
    login name := 'bizctx_login_' || left(current_database(), 32) || '_' || left(md5(current_database()), 12);
    secret text := encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        -- Left by a dropped database of the same name (the hash makes it no other database's):
        -- made safe again, with a new password.
        EXECUTE format('ALTER ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS '
                       'PASSWORD %L', login, secret);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT PASSWORD %L', login, secret);
    END IF;
    EXECUTE format('GRANT bizctx_app TO %I', login);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), login);
    INSERT INTO agent_login (role_name, password) VALUES (login, secret);
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'bizctx: % may not create the login role %; agent calls will log in as %',
        current_user, login, current_user;
END
$$;

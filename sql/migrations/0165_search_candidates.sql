-- search_clients finds its candidates through the trigram indexes, in a function that
-- applies the tenant filter itself.
--
-- Why: under row-level security PostgreSQL evaluates a policy's qual before any operator that
-- is not LEAKPROOF, so it may not use an index for one; pg_trgm's operators (%, <%, LIKE on
-- trigrams) are not, so search_clients scored every live client of the tenant: 1.6-2.5 s a
-- call at 100,000 clients. Marking them LEAKPROOF needs a superuser (which a customer's
-- DATABASE_URL login need not be) and would vouch for C code we do not own. Instead:
--
-- bizctx_client_candidates runs as bizctx_search, a NOLOGIN role that may read only the
-- columns a search matches on, with a policy that is simply true for it: no security qual,
-- so the planner may use the indexes. The function is that role's only way in, and it
-- filters on the tenant the call set (bizctx_tenant(), never a parameter), live clients only,
-- and on the fields the caller may match (e-mail and phone only when not redacted for it:
-- the caller says so, and a caller can only narrow what it gets). It returns ids alone; the
-- search itself then reads and ranks those clients as bizctx_app, under its own row policies,
-- so row-level security stays the floor. tests/test_clients.py checks the tenant filter.
--
-- A candidate is any client the ranking in search_clients.sql could score at min_score or
-- more: similarity or word similarity of name or company at least min_score (the pg_trgm
-- thresholds are set to it for the function's duration), a name, company or e-mail starting
-- with the query, an e-mail similar enough, or (three digits or more) a phone holding the
-- digits. So ranking only the candidates returns what ranking every client did.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bizctx_search') THEN
        CREATE ROLE bizctx_search NOLOGIN NOINHERIT;
    END IF;
    EXECUTE format('GRANT bizctx_search TO %I', current_user);
END
$$;
GRANT USAGE, CREATE ON SCHEMA public TO bizctx_search;
GRANT SELECT (tenant_id, id, display_name, company_name, email, phone, mobile_phone, deleted_at)
    ON clients TO bizctx_search;
CREATE POLICY search_candidates ON clients FOR SELECT TO bizctx_search USING (true);

-- The digits of each phone number, for a search by part of a number.
CREATE INDEX clients_phone_digits_trgm_idx
    ON clients USING gin ((regexp_replace(coalesce(phone, ''), '\D', '', 'g')) gin_trgm_ops);
CREATE INDEX clients_mobile_phone_digits_trgm_idx
    ON clients USING gin ((regexp_replace(coalesce(mobile_phone, ''), '\D', '', 'g')) gin_trgm_ops);

CREATE FUNCTION bizctx_client_candidates(
    q text, q_digits text, match_email boolean, match_phone boolean, min_score float8
) RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    -- Restored when the function returns, whatever it set them to meanwhile.
    SET pg_trgm.similarity_threshold = 0.3
    SET pg_trgm.word_similarity_threshold = 0.6
    -- The planner prices a trigram recheck like an equality and would scan the whole table
    -- (measured at 100,000 clients: 700 ms scanning, against 5-25 ms for an index arm).
    SET enable_seqscan = off
AS $$
BEGIN
    IF q IS NULL OR q = '' OR bizctx_tenant() IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('pg_trgm.similarity_threshold', greatest(min_score, 0.01)::text, true);
    PERFORM set_config('pg_trgm.word_similarity_threshold', greatest(min_score, 0.01)::text, true);
    -- One arm per index, each planned on its own.
    RETURN QUERY
    SELECT c.id FROM clients c
     WHERE c.tenant_id = bizctx_tenant() AND c.deleted_at IS NULL
       AND (c.display_name % q OR q <% c.display_name OR c.display_name ILIKE q || '%')
    UNION
    SELECT c.id FROM clients c
     WHERE c.tenant_id = bizctx_tenant() AND c.deleted_at IS NULL
       AND (c.company_name % q OR q <% c.company_name OR c.company_name ILIKE q || '%')
    UNION
    SELECT c.id FROM clients c
     WHERE match_email AND c.tenant_id = bizctx_tenant() AND c.deleted_at IS NULL
       AND (c.email % q OR c.email LIKE q || '%')
    UNION
    SELECT c.id FROM clients c
     WHERE match_phone AND length(q_digits) >= 3
       AND c.tenant_id = bizctx_tenant() AND c.deleted_at IS NULL
       AND (regexp_replace(coalesce(c.phone, ''), '\D', '', 'g') LIKE '%' || q_digits || '%'
            OR regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g') LIKE '%' || q_digits || '%');
END
$$;
ALTER FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8) OWNER TO bizctx_search;
REVOKE ALL ON FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8) TO bizctx_app;

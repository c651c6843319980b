-- search_clients' candidates are the nearest few per index, in the tenant's own part of the
-- index, instead of every client over a similarity threshold.
--
-- Why: 0165 found candidates through the trigram GIN indexes, which span all tenants and
-- return every row over the threshold. With real names (a few very common: 1% of clients are
-- Smiths) a query shares trigrams with thousands of clients, each rechecked on the heap, in
-- every tenant: bench/search_bench.py measured 0.65-1.5 s a search at 10,000 to 100,000 clients
-- in a tenant (1,000,000 in the database). Now each arm reads one index whose first column is
-- the tenant (btree_gist, already required), ordered by distance (pg_trgm's GiST KNN: <-> for
-- similarity, <<-> for word similarity), and stops after `cap` rows; prefixes come from btree
-- text_pattern_ops ranges, phone digits from a tenant-first GiST trigram index read with LIMIT.
-- So the work is bounded by the page (and, paging on, by how deep), not by how many names
-- share trigrams. btree_gin's (tenant_id, name gin_trgm_ops) was measured too and is worse
-- (1.4 s): a GIN scan reads the tenant's whole posting list and cannot stop at a LIMIT.
--
-- Row-level security stays the floor, as in 0165: the function runs as bizctx_search (SELECT
-- on the matched columns only, a policy that is simply true for it, so the planner may use the
-- indexes; pg_trgm's operators are not LEAKPROOF and we do not vouch for them), filters on the
-- tenant the call set (bizctx_tenant(), never a parameter), live clients only, e-mail and phone
-- only when the caller may match them, and returns ids alone; search_clients.sql then reads and
-- ranks those clients as bizctx_app under its own row policies. tests/test_rls.py checks the
-- tenant filter.
--
-- What a cap gives up: the ranking takes, per component, the max of the arms' scores, and the
-- top N by a max is always inside the union of the top N by each arm, so the first page is the
-- one ranking every client gave, unless more than `cap` clients tie at the page's edge in one
-- arm (then the tie is broken by the index's order, not by id). A cursor's score is passed in:
-- arms skip what scored above it (shown on earlier pages), and a prefix arm (0.9 and up) is not
-- read once the cursor is below 0.9.

DROP FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8);

-- Tenant first: each arm reads only the tenant's part of the index.
CREATE INDEX clients_name_knn_idx ON clients
    USING gist (tenant_id, display_name gist_trgm_ops (siglen = 256)) WHERE deleted_at IS NULL;
CREATE INDEX clients_company_knn_idx ON clients
    USING gist (tenant_id, company_name gist_trgm_ops (siglen = 256))
    WHERE deleted_at IS NULL AND company_name IS NOT NULL;
CREATE INDEX clients_email_knn_idx ON clients
    USING gist (tenant_id, email gist_trgm_ops (siglen = 256)) WHERE deleted_at IS NULL AND email IS NOT NULL;
CREATE INDEX clients_phone_digits_knn_idx ON clients
    USING gist (tenant_id, (regexp_replace(coalesce(phone, ''), '\D', '', 'g')) gist_trgm_ops)
    WHERE deleted_at IS NULL AND phone IS NOT NULL;
CREATE INDEX clients_mobile_phone_digits_knn_idx ON clients
    USING gist (tenant_id, (regexp_replace(coalesce(mobile_phone, ''), '\D', '', 'g')) gist_trgm_ops)
    WHERE deleted_at IS NULL AND mobile_phone IS NOT NULL;
CREATE INDEX clients_name_prefix_idx ON clients (tenant_id, lower(display_name) text_pattern_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX clients_company_prefix_idx ON clients (tenant_id, lower(company_name) text_pattern_ops)
    WHERE deleted_at IS NULL AND company_name IS NOT NULL;
CREATE INDEX clients_email_prefix_idx ON clients (tenant_id, email text_pattern_ops)
    WHERE deleted_at IS NULL AND email IS NOT NULL;

-- The tenant-spanning GIN indexes only served search (0002, 0165); every client write paid for them.
DROP INDEX clients_display_name_trgm_idx, clients_company_name_trgm_idx, clients_email_trgm_idx,
    clients_phone_trgm_idx, clients_mobile_phone_trgm_idx, clients_phone_digits_trgm_idx,
    clients_mobile_phone_digits_trgm_idx;

CREATE FUNCTION bizctx_client_candidates(
    q text, q_digits text, match_email boolean, match_phone boolean, min_score float8,
    after_score float8, cap integer
) RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    -- Restored when the function returns, whatever it set them to meanwhile.
    SET pg_trgm.similarity_threshold = 0.3
    SET pg_trgm.word_similarity_threshold = 0.3
    -- An arm is an ordered index scan that stops at its LIMIT; a bitmap or a sequential scan
    -- would read every match first.
    SET enable_seqscan = off
    SET enable_bitmapscan = off
AS $$
DECLARE
    t uuid := bizctx_tenant();
    -- A component above the cursor's score was shown on an earlier page.
    top float8 := coalesce(after_score, 1.0);
    upper text := q || chr(1114111);
BEGIN
    IF q IS NULL OR q = '' OR t IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('pg_trgm.similarity_threshold', greatest(min_score, 0.01)::text, true);
    PERFORM set_config('pg_trgm.word_similarity_threshold', greatest(min_score, 0.01)::text, true);
    RETURN QUERY
    (SELECT c.id FROM clients c
      WHERE c.tenant_id = t AND c.deleted_at IS NULL AND c.display_name % q
        AND similarity(c.display_name, q) <= top
      ORDER BY c.display_name <-> q LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE c.tenant_id = t AND c.deleted_at IS NULL AND q <% c.display_name
        AND word_similarity(q, c.display_name) <= top
      ORDER BY q <<-> c.display_name LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE top >= 0.9 AND c.tenant_id = t AND c.deleted_at IS NULL
        AND lower(c.display_name) ~>=~ q AND lower(c.display_name) ~<~ upper
      ORDER BY lower(c.display_name) LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE c.tenant_id = t AND c.deleted_at IS NULL AND c.company_name IS NOT NULL
        AND c.company_name % q AND similarity(c.company_name, q) <= top
      ORDER BY c.company_name <-> q LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE c.tenant_id = t AND c.deleted_at IS NULL AND c.company_name IS NOT NULL
        AND q <% c.company_name AND word_similarity(q, c.company_name) <= top
      ORDER BY q <<-> c.company_name LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE top >= 0.9 AND c.tenant_id = t AND c.deleted_at IS NULL AND c.company_name IS NOT NULL
        AND lower(c.company_name) ~>=~ q AND lower(c.company_name) ~<~ upper
      ORDER BY lower(c.company_name) LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE match_email AND c.tenant_id = t AND c.deleted_at IS NULL AND c.email IS NOT NULL
        AND c.email % q AND similarity(c.email, q) <= top
      ORDER BY c.email <-> q LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE match_email AND top >= 0.9 AND c.tenant_id = t AND c.deleted_at IS NULL AND c.email IS NOT NULL
        AND c.email ~>=~ q AND c.email ~<~ upper
      ORDER BY c.email LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE match_phone AND top >= 0.8 AND length(q_digits) >= 3
        AND c.tenant_id = t AND c.deleted_at IS NULL AND c.phone IS NOT NULL
        AND regexp_replace(coalesce(c.phone, ''), '\D', '', 'g') LIKE '%' || q_digits || '%'
      LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE match_phone AND top >= 0.8 AND length(q_digits) >= 3
        AND c.tenant_id = t AND c.deleted_at IS NULL AND c.mobile_phone IS NOT NULL
        AND regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g') LIKE '%' || q_digits || '%'
      LIMIT cap);
END
$$;
ALTER FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8, float8, integer)
    OWNER TO bizctx_search;
REVOKE ALL ON FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8, float8, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8, float8, integer)
    TO bizctx_app;

-- search_clients finds its candidates through the words of the clients' names, kept in small
-- per-tenant lists, instead of trigram indexes over the names themselves.
--
-- Why: 0175 read the nearest 50 per tenant-first GiST trigram index, but pg_trgm's KNN visits
-- much of the tenant's part of the index when a query's trigrams are common, as real names'
-- are (a few names are very common): 38-155 ms a search, 37-153x get_client, with 100,000
-- clients in the tenant and 1,000,000 in the database (bench/search_bench.py). Names are made of
-- few distinct words (about a thousand in such a tenant), so a query's words are matched against
-- the tenant's vocabulary (a small trigram index: the words a query word begins, and the nearest
-- few), and the clients come from btree lists in client id order, read up to the cap:
--   - both words: clients with a word like each of the query's two longest words, through the
--     list of each ordered pair of a client's words;
--   - one word and another near: clients with (or with a word beginning like) one of them, their
--     other words ranked by similarity to the query's other word (a word's partners: the other
--     words of the clients that have it, a few hundred at most);
--   - one word: clients with a word like one of the query's, the closest words first.
-- Prefixes of the whole name, company and e-mail stay 0175's btree ranges; phone digits are
-- btree ranges on the digits and on their reverse (a number's start or end), and the trigram
-- index only when no number starts or ends with them. search_clients.sql still ranks every
-- candidate by its own score, which stays the definition of the ranking. So the work is
-- bounded by the page, not by how many clients share a word. Planned once per session
-- (force_generic_plan): planning the query anew each call took longer than running it.
-- Measured with the same benchmark: 1.1-5.2 ms a search, 1.2-6.1x get_client's p50 in the
-- same run.
--
-- What it gives up: the score is trigram similarity of whole strings, and a word-level search
-- finds the clients that share whole or beginning words with the query, not every client that
-- shares some trigrams (e.g. "mar mat" scores "Omar Matthews" 0.83 through "mar" inside "omar").
-- Measured on 68 queries drawn from the benchmark's tenant (full names, last names, partial
-- names, typos, e-mail fragments, company words) against ranking every client: the page's
-- scores were the same in the first ten places for 59 (0175: 68), and 84% of the page's
-- clients were the same (0175: 72%; among equal scores both pick some, not the lowest ids).
--
-- A cap is only sound if what it leaves out is not what the call asked for: a search's filters
-- (status, tag, segment) apply in each arm before its cap, and an arm reads the clients tied at
-- the cursor's score after the cursor's id (ties rank by id), so paging with next_cursor until
-- it is null reaches every match (tests/test_clients.py: a filtered match past the first 120,
-- and 121 equal scores paged through).

-- Kept by the database: statement-level triggers on clients (set-based, through transition
-- tables) forget a statement's old rows' words and learn its new live rows', whoever writes
-- (tools, import, demo, operators); soft-deleted clients have none. The vocabulary and the
-- partners only grow (a word no client has any more is skipped: the search checks its list).
-- With 0175's three trigram GiST indexes dropped, a 100,000-client import is no slower
-- (bench/import_bench.py: 27-38 s, 31-38 s before). The partners have no trigram index: it
-- made each new pair a GiST insert (4.4 s per 30,000 new clients), and a word's partners are
-- few enough to sort.
-- The tables are tenant tables like any other (RLS forced, the tenant and operator policies)
-- that only bizctx_search reads and writes: the triggers are its security-definer functions,
-- and bizctx_client_candidates stays as 0165 made it (tenant from bizctx_tenant(), never a
-- parameter; ids only; search_clients re-reads them as bizctx_app under its own policies).
-- tests/test_rls.py checks every arm's tenant filter and that the words follow every write.

-- The words of each live client's name and company, each with the clients that have it (a
-- posting list, in client id order); each ordered pair of a client's words, likewise (a query of
-- two words or more finds the clients that have both without reading either word's whole list).
CREATE TABLE client_search_words (
    tenant_id uuid NOT NULL,
    word      text COLLATE "C" NOT NULL,
    client_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, word, client_id)
);
CREATE TABLE client_search_word_pairs (
    tenant_id uuid NOT NULL,
    word_a    text COLLATE "C" NOT NULL,
    word_b    text COLLATE "C" NOT NULL CHECK (word_a <> word_b),
    client_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, word_a, word_b, client_id)
);
-- The distinct words of a tenant: a few thousand, whatever the number of clients.
CREATE TABLE client_search_vocabulary (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    word      text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, word)
);
CREATE INDEX client_search_vocabulary_knn_idx ON client_search_vocabulary
    USING gist (tenant_id, word gist_trgm_ops);
-- Per word, the other words of the clients that have it (a few hundred for the commonest).
CREATE TABLE client_search_word_partners (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    word      text COLLATE "C" NOT NULL,
    partner   text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, word, partner)
);

-- Tenant tables like any other (RLS forced, the tenant and operator policies), but no agent
-- reads or writes them: only bizctx_search, through the functions below.
DO $$
DECLARE
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['client_search_words', 'client_search_word_pairs', 'client_search_vocabulary',
                             'client_search_word_partners'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tbl);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tbl);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO bizctx_app '
            'USING (tenant_id = bizctx_tenant()) WITH CHECK (tenant_id = bizctx_tenant())', tbl);
        EXECUTE format('CREATE POLICY operator_all ON %I TO bizctx_operator USING (true) WITH CHECK (true)',
                       tbl);
        EXECUTE format('CREATE POLICY search_words ON %I TO bizctx_search USING (true) WITH CHECK (true)',
                       tbl);
        EXECUTE format('GRANT SELECT, INSERT, DELETE ON %I TO bizctx_search', tbl);
    END LOOP;
END
$$;

-- A client's words: what pg_trgm splits a text into (runs of letters and digits), lower-cased,
-- the first `most` of name and company (NULL: all). Each is found alone, all of them (the tools
-- bound a name's and a company's length); the pairs and partners, which grow as the square of
-- a client's words, come from its first 12.
-- (No SET clause: PostgreSQL inlines it into the statements that call it only without one.)
CREATE FUNCTION bizctx_client_words(display_name text, company_name text, most integer)
    RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT DISTINCT w FROM (
        SELECT pg_catalog.left(w, 200) AS w
        FROM pg_catalog.regexp_split_to_table(
                 pg_catalog.lower(coalesce(display_name, '') || ' ' || coalesce(company_name, '')),
                 '[^[:alnum:]]+') WITH ORDINALITY AS s (w, i)
        WHERE w <> '' ORDER BY i LIMIT most) d
$$;

-- Kept by the database, set-based, whoever writes clients (tools, import, demo, operators):
-- a statement's old rows lose their words, its new live rows gain theirs (an update that
-- changed a client's words, its deletion, or its key: an operator's UPDATE of id or tenant_id
-- is an old row gone and a new one come). The vocabulary only grows (a word nobody uses any
-- more is skipped by the search, which checks its postings).
CREATE FUNCTION bizctx_client_words_forget() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    -- (Two statements: a DELETE's trigger has no new rows to name.)
    IF TG_OP = 'UPDATE' THEN
    WITH gone AS MATERIALIZED (
        SELECT o.tenant_id, o.id,
               ARRAY(SELECT bizctx_client_words(o.display_name, o.company_name, NULL) ORDER BY 1) AS words,
               ARRAY(SELECT bizctx_client_words(o.display_name, o.company_name, 12) ORDER BY 1) AS pairable
        FROM old_rows o
        WHERE o.deleted_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM new_rows n
            WHERE n.tenant_id = o.tenant_id AND n.id = o.id AND n.deleted_at IS NULL
              AND n.display_name IS NOT DISTINCT FROM o.display_name
              AND n.company_name IS NOT DISTINCT FROM o.company_name)
    ), words AS (
        DELETE FROM client_search_words w
        USING gone o, unnest(o.words) x (word)
        WHERE w.tenant_id = o.tenant_id AND w.word = x.word AND w.client_id = o.id
    )
    DELETE FROM client_search_word_pairs w
    USING gone o, unnest(o.pairable) a (word), unnest(o.pairable) b (word)
    WHERE a.word <> b.word
      AND w.tenant_id = o.tenant_id AND w.word_a = a.word AND w.word_b = b.word AND w.client_id = o.id;
    ELSE
    WITH gone AS MATERIALIZED (
        SELECT o.tenant_id, o.id,
               ARRAY(SELECT bizctx_client_words(o.display_name, o.company_name, NULL) ORDER BY 1) AS words,
               ARRAY(SELECT bizctx_client_words(o.display_name, o.company_name, 12) ORDER BY 1) AS pairable
        FROM old_rows o
        WHERE o.deleted_at IS NULL
    ), words AS (
        DELETE FROM client_search_words w
        USING gone o, unnest(o.words) x (word)
        WHERE w.tenant_id = o.tenant_id AND w.word = x.word AND w.client_id = o.id
    )
    DELETE FROM client_search_word_pairs w
    USING gone o, unnest(o.pairable) a (word), unnest(o.pairable) b (word)
    WHERE a.word <> b.word
      AND w.tenant_id = o.tenant_id AND w.word_a = a.word AND w.word_b = b.word AND w.client_id = o.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION bizctx_client_words_learn() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    -- (Two statements: an INSERT's trigger has no old rows to name.)
    IF TG_OP = 'UPDATE' THEN
    WITH learnt AS MATERIALIZED (
        SELECT n.tenant_id, n.id,
               ARRAY(SELECT bizctx_client_words(n.display_name, n.company_name, NULL) ORDER BY 1) AS words,
               ARRAY(SELECT bizctx_client_words(n.display_name, n.company_name, 12) ORDER BY 1) AS pairable
        FROM new_rows n
        WHERE n.deleted_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM old_rows o
            WHERE o.tenant_id = n.tenant_id AND o.id = n.id AND o.deleted_at IS NULL
              AND o.display_name IS NOT DISTINCT FROM n.display_name
              AND o.company_name IS NOT DISTINCT FROM n.company_name)
    ), vocabulary AS (
        INSERT INTO client_search_vocabulary (tenant_id, word)
        SELECT DISTINCT tenant_id, w FROM learnt, unnest(words) w ORDER BY 1, 2
        ON CONFLICT DO NOTHING
    ), partners AS (
        INSERT INTO client_search_word_partners (tenant_id, word, partner)
        SELECT DISTINCT tenant_id, a, b FROM learnt, unnest(pairable) a, unnest(pairable) b WHERE a <> b
        ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
    ), words AS (
        INSERT INTO client_search_words (tenant_id, word, client_id)
        SELECT tenant_id, w, id FROM learnt, unnest(words) w ORDER BY 1, 2, 3
    )
    INSERT INTO client_search_word_pairs (tenant_id, word_a, word_b, client_id)
    SELECT tenant_id, a, b, id FROM learnt, unnest(pairable) a, unnest(pairable) b WHERE a <> b
    ORDER BY 1, 2, 3, 4;
    ELSE
    WITH learnt AS MATERIALIZED (
        SELECT n.tenant_id, n.id,
               ARRAY(SELECT bizctx_client_words(n.display_name, n.company_name, NULL) ORDER BY 1) AS words,
               ARRAY(SELECT bizctx_client_words(n.display_name, n.company_name, 12) ORDER BY 1) AS pairable
        FROM new_rows n
        WHERE n.deleted_at IS NULL
    ), vocabulary AS (
        INSERT INTO client_search_vocabulary (tenant_id, word)
        SELECT DISTINCT tenant_id, w FROM learnt, unnest(words) w ORDER BY 1, 2
        ON CONFLICT DO NOTHING
    ), partners AS (
        INSERT INTO client_search_word_partners (tenant_id, word, partner)
        SELECT DISTINCT tenant_id, a, b FROM learnt, unnest(pairable) a, unnest(pairable) b WHERE a <> b
        ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
    ), words AS (
        INSERT INTO client_search_words (tenant_id, word, client_id)
        SELECT tenant_id, w, id FROM learnt, unnest(words) w ORDER BY 1, 2, 3
    )
    INSERT INTO client_search_word_pairs (tenant_id, word_a, word_b, client_id)
    SELECT tenant_id, a, b, id FROM learnt, unnest(pairable) a, unnest(pairable) b WHERE a <> b
    ORDER BY 1, 2, 3, 4;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER client_words_forget_on_update AFTER UPDATE ON clients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bizctx_client_words_forget();
CREATE TRIGGER client_words_forget_on_delete AFTER DELETE ON clients
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bizctx_client_words_forget();
-- After the forgetting (triggers fire in name order).
CREATE TRIGGER client_words_learn_on_insert AFTER INSERT ON clients
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bizctx_client_words_learn();
CREATE TRIGGER client_words_learn_on_update AFTER UPDATE ON clients
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bizctx_client_words_learn();
ALTER FUNCTION bizctx_client_words(text, text, integer) OWNER TO bizctx_search;
ALTER FUNCTION bizctx_client_words_forget() OWNER TO bizctx_search;
ALTER FUNCTION bizctx_client_words_learn() OWNER TO bizctx_search;
REVOKE ALL ON FUNCTION bizctx_client_words_forget(), bizctx_client_words_learn() FROM PUBLIC;

-- The clients already there.
WITH learnt AS MATERIALIZED (
    SELECT c.tenant_id, c.id,
               ARRAY(SELECT bizctx_client_words(c.display_name, c.company_name, NULL) ORDER BY 1) AS words,
               ARRAY(SELECT bizctx_client_words(c.display_name, c.company_name, 12) ORDER BY 1) AS pairable
    FROM clients c
    WHERE c.deleted_at IS NULL
), vocabulary AS (
    INSERT INTO client_search_vocabulary (tenant_id, word)
    SELECT DISTINCT tenant_id, w FROM learnt, unnest(words) w
), partners AS (
    INSERT INTO client_search_word_partners (tenant_id, word, partner)
    SELECT DISTINCT tenant_id, a, b FROM learnt, unnest(pairable) a, unnest(pairable) b WHERE a <> b
), words AS (
    INSERT INTO client_search_words (tenant_id, word, client_id)
    SELECT tenant_id, w, id FROM learnt, unnest(words) w
)
INSERT INTO client_search_word_pairs (tenant_id, word_a, word_b, client_id)
SELECT tenant_id, a, b, id FROM learnt, unnest(pairable) a, unnest(pairable) b WHERE a <> b;

-- Phone numbers by their digits' start or end (most searches give a whole number or its last
-- digits): btree ranges, read up to the cap.
CREATE INDEX clients_phone_digits_prefix_idx ON clients
    (tenant_id, (regexp_replace(coalesce(phone, ''), '\D', '', 'g')) text_pattern_ops)
    WHERE deleted_at IS NULL AND phone IS NOT NULL;
CREATE INDEX clients_phone_digits_suffix_idx ON clients
    (tenant_id, (reverse(regexp_replace(coalesce(phone, ''), '\D', '', 'g'))) text_pattern_ops)
    WHERE deleted_at IS NULL AND phone IS NOT NULL;
CREATE INDEX clients_mobile_phone_digits_prefix_idx ON clients
    (tenant_id, (regexp_replace(coalesce(mobile_phone, ''), '\D', '', 'g')) text_pattern_ops)
    WHERE deleted_at IS NULL AND mobile_phone IS NOT NULL;
CREATE INDEX clients_mobile_phone_digits_suffix_idx ON clients
    (tenant_id, (reverse(regexp_replace(coalesce(mobile_phone, ''), '\D', '', 'g'))) text_pattern_ops)
    WHERE deleted_at IS NULL AND mobile_phone IS NOT NULL;

-- A search's filters (status, tag, segment) apply in each arm, before its cap: applied after
-- it, a filtered search would see only the cap's first clients and miss the ones it asks for
-- (and an empty page would end the paging). bizctx_search reads what they need; the segment is
-- named by the caller, whose row policies choose the segments' ids (search_clients.sql).
GRANT SELECT (status, tags) ON clients TO bizctx_search;
GRANT SELECT (tenant_id, segment_id, client_id) ON client_segment_memberships TO bizctx_search;
CREATE POLICY search_candidates ON client_segment_memberships FOR SELECT TO bizctx_search USING (true);

CREATE FUNCTION bizctx_client_passes(
    t uuid, client uuid, want_status text, want_tag text, segments uuid[]
) RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM clients c
        WHERE c.tenant_id = t AND c.id = client
          AND (want_status IS NULL OR c.status = want_status)
          AND (want_tag IS NULL OR c.tags @> ARRAY[want_tag])
          AND (segments IS NULL OR EXISTS (
                  SELECT 1 FROM client_segment_memberships m
                  WHERE m.tenant_id = t AND m.client_id = c.id AND m.segment_id = ANY (segments))))
$$;
ALTER FUNCTION bizctx_client_passes(uuid, uuid, text, text, uuid[]) OWNER TO bizctx_search;
REVOKE ALL ON FUNCTION bizctx_client_passes(uuid, uuid, text, text, uuid[]) FROM PUBLIC;

-- Whether a client's name or company scores below the cursor's score, or at it with an id after
-- the cursor's: not shown on an earlier page. (The arms' cheap stand-in for search_clients.sql's
-- score, which ranks what they find.)
CREATE FUNCTION bizctx_client_below(t uuid, client uuid, q text, top float8, after_id uuid) RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM clients c
        CROSS JOIN LATERAL (SELECT greatest(
                   greatest(similarity(c.display_name, q), word_similarity(q, c.display_name)),
                   coalesce(greatest(similarity(c.company_name, q), word_similarity(q, c.company_name)), 0)
               )::float8 AS approx) s
        WHERE c.tenant_id = t AND c.id = client
          AND (s.approx < top OR s.approx <= top AND (after_id IS NULL OR client > after_id)))
$$;
ALTER FUNCTION bizctx_client_below(uuid, uuid, text, float8, uuid) OWNER TO bizctx_search;
REVOKE ALL ON FUNCTION bizctx_client_below(uuid, uuid, text, float8, uuid) FROM PUBLIC;

-- after_id: the cursor's id. Clients tied at the cursor's score come in id order, so an arm
-- reads those after it: with more ties than the cap, each page reaches further instead of
-- reading the same first clients again (and the paging ending where they run out).
DROP FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8, float8, integer);
CREATE FUNCTION bizctx_client_candidates(
    q text, q_digits text, match_email boolean, match_phone boolean, min_score float8,
    after_score float8, cap integer, want_status text DEFAULT NULL, want_tag text DEFAULT NULL,
    segments uuid[] DEFAULT NULL, after_id uuid DEFAULT NULL
) RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    -- Restored when the function returns, whatever it set them to meanwhile.
    SET pg_trgm.similarity_threshold = 0.15
    -- Planned once per session: planning this query anew each call took longer than running it.
    SET plan_cache_mode = force_generic_plan
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
    words text[];
    phones boolean := match_phone AND top >= 0.8 AND coalesce(length(q_digits), 0) >= 3;
    filtered boolean := want_status IS NOT NULL OR want_tag IS NOT NULL OR segments IS NOT NULL;
BEGIN
    IF q IS NULL OR q = '' OR t IS NULL THEN
        RETURN;
    END IF;
    -- A word of the query matches a word of the tenant's at half the score asked of a client:
    -- a client's score counts all its words' trigrams together.
    PERFORM set_config('pg_trgm.similarity_threshold', greatest(min_score / 2, 0.01)::text, true);
    -- The query's words, as the clients' were split; the eight longest.
    words := ARRAY(SELECT w FROM (SELECT DISTINCT left(w, 200) AS w
                                  FROM regexp_split_to_table(q, '[^[:alnum:]]+') w WHERE w <> '') d
                   ORDER BY length(w) DESC, w LIMIT 8);
    RETURN QUERY
    WITH matched AS MATERIALIZED (
        -- Per query word (n its rank), the tenant's words it begins (or is) and the nearest few
        -- by trigrams, with how close each is (r: their order).
        SELECT q_word.n, m.word, max(m.sim) AS sim,
               row_number() OVER (PARTITION BY q_word.n ORDER BY max(m.sim) DESC, length(m.word), m.word) AS r
        FROM unnest(words) WITH ORDINALITY AS q_word (w, n)
        CROSS JOIN LATERAL (
            (SELECT v.word, CASE WHEN v.word = q_word.w THEN 1.0 ELSE 0.9 END::float8 AS sim
             FROM client_search_vocabulary v
             WHERE v.tenant_id = t AND v.word >= q_word.w AND v.word < q_word.w || chr(1114111)
               AND EXISTS (SELECT 1 FROM client_search_words p WHERE p.tenant_id = t AND p.word = v.word)
             ORDER BY length(v.word), v.word LIMIT 8)
            UNION ALL
            (SELECT v.word, similarity(v.word, q_word.w)::float8
             FROM client_search_vocabulary v
             WHERE v.tenant_id = t AND v.word % q_word.w
               AND EXISTS (SELECT 1 FROM client_search_words p WHERE p.tenant_id = t AND p.word = v.word)
             ORDER BY v.word <-> q_word.w LIMIT 8)
        ) m
        GROUP BY q_word.n, m.word
    ), both_words AS (
        -- Clients with a word like each of the query's two longest words, the closest first
        -- (then by id, as the ranking breaks ties).
        SELECT p.client_id
        FROM matched x JOIN matched y ON x.n = 1 AND y.n = 2 AND x.r <= 8 AND y.r <= 8 AND x.word <> y.word
        CROSS JOIN LATERAL (
            SELECT p.client_id FROM client_search_word_pairs p
            WHERE p.tenant_id = t AND p.word_a = x.word AND p.word_b = y.word
               AND (after_id IS NULL AND top >= 1.0 OR bizctx_client_below(t, p.client_id, q, top, after_id))
               AND (NOT filtered OR bizctx_client_passes(t, p.client_id, want_status, want_tag, segments))
            ORDER BY p.client_id LIMIT cap) p
        ORDER BY x.sim + y.sim DESC, p.client_id LIMIT cap
    ), pivot AS (
        -- Clients with a word that is or begins like one of the query's two longest words (the
        -- closest such) and another word near the query's other one: that word's partners
        -- nearest to it, then their clients by id.
        SELECT p.client_id
        FROM matched x JOIN unnest(words[1:2]) WITH ORDINALITY AS other (w, n) ON other.n <> x.n
        CROSS JOIN LATERAL (
            SELECT v.partner, similarity(v.partner, other.w) AS sim FROM client_search_word_partners v
            WHERE v.tenant_id = t AND v.word = x.word
            ORDER BY v.partner <-> other.w LIMIT 16) b
        CROSS JOIN LATERAL (
            SELECT p.client_id FROM client_search_word_pairs p
            WHERE p.tenant_id = t AND p.word_a = x.word AND p.word_b = b.partner
               AND (after_id IS NULL AND top >= 1.0 OR bizctx_client_below(t, p.client_id, q, top, after_id))
               AND (NOT filtered OR bizctx_client_passes(t, p.client_id, want_status, want_tag, segments))
            ORDER BY p.client_id LIMIT cap) p
        WHERE x.n <= 2 AND x.r = 1 AND x.sim >= 0.9
        ORDER BY x.sim + b.sim DESC, p.client_id LIMIT cap
    ), one_word AS (
        -- Clients with a word like one of the query's (the four closest), the closest first,
        -- then by id.
        SELECT p.client_id
        FROM matched x
        CROSS JOIN LATERAL (
            SELECT p.client_id FROM client_search_words p
            WHERE p.tenant_id = t AND p.word = x.word
               AND (after_id IS NULL AND top >= 1.0 OR bizctx_client_below(t, p.client_id, q, top, after_id))
               AND (NOT filtered OR bizctx_client_passes(t, p.client_id, want_status, want_tag, segments))
            ORDER BY p.client_id LIMIT cap) p
        WHERE x.r <= 4
        ORDER BY x.sim DESC, p.client_id LIMIT cap
    ), hits AS (
        SELECT client_id FROM both_words
        UNION SELECT client_id FROM pivot
        UNION SELECT client_id FROM one_word
    ), ends AS MATERIALIZED (
        (SELECT c.id FROM clients c
          WHERE phones AND c.tenant_id = t AND c.deleted_at IS NULL AND c.phone IS NOT NULL
            AND (NOT filtered OR bizctx_client_passes(t, c.id, want_status, want_tag, segments))
            AND regexp_replace(coalesce(c.phone, ''), '\D', '', 'g') ~>=~ q_digits
            AND regexp_replace(coalesce(c.phone, ''), '\D', '', 'g') ~<~ (q_digits || chr(1114111))
          LIMIT cap)
        UNION
        (SELECT c.id FROM clients c
          WHERE phones AND c.tenant_id = t AND c.deleted_at IS NULL AND c.phone IS NOT NULL
            AND (NOT filtered OR bizctx_client_passes(t, c.id, want_status, want_tag, segments))
            AND reverse(regexp_replace(coalesce(c.phone, ''), '\D', '', 'g')) ~>=~ reverse(q_digits)
            AND reverse(regexp_replace(coalesce(c.phone, ''), '\D', '', 'g'))
                ~<~ (reverse(q_digits) || chr(1114111))
          LIMIT cap)
        UNION
        (SELECT c.id FROM clients c
          WHERE phones AND c.tenant_id = t AND c.deleted_at IS NULL AND c.mobile_phone IS NOT NULL
            AND (NOT filtered OR bizctx_client_passes(t, c.id, want_status, want_tag, segments))
            AND regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g') ~>=~ q_digits
            AND regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g') ~<~ (q_digits || chr(1114111))
          LIMIT cap)
        UNION
        (SELECT c.id FROM clients c
          WHERE phones AND c.tenant_id = t AND c.deleted_at IS NULL AND c.mobile_phone IS NOT NULL
            AND (NOT filtered OR bizctx_client_passes(t, c.id, want_status, want_tag, segments))
            AND reverse(regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g')) ~>=~ reverse(q_digits)
            AND reverse(regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g'))
                ~<~ (reverse(q_digits) || chr(1114111))
          LIMIT cap)
    )
    SELECT client_id FROM hits
    UNION
    (SELECT c.id FROM clients c
      WHERE top >= 0.9 AND c.tenant_id = t AND c.deleted_at IS NULL
            AND (NOT filtered OR bizctx_client_passes(t, c.id, want_status, want_tag, segments))
        AND lower(c.display_name) ~>=~ q AND lower(c.display_name) ~<~ upper
      ORDER BY lower(c.display_name) LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE top >= 0.9 AND c.tenant_id = t AND c.deleted_at IS NULL AND c.company_name IS NOT NULL
            AND (NOT filtered OR bizctx_client_passes(t, c.id, want_status, want_tag, segments))
        AND lower(c.company_name) ~>=~ q AND lower(c.company_name) ~<~ upper
      ORDER BY lower(c.company_name) LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE match_email AND top >= 0.9 AND c.tenant_id = t AND c.deleted_at IS NULL AND c.email IS NOT NULL
            AND (NOT filtered OR bizctx_client_passes(t, c.id, want_status, want_tag, segments))
        AND c.email ~>=~ q AND c.email ~<~ upper
      ORDER BY c.email LIMIT cap)
    UNION
    SELECT id FROM ends
    UNION
    -- Digits inside a number: the trigram index, only when no number begins or ends with them.
    (SELECT c.id FROM clients c
      WHERE phones AND NOT EXISTS (SELECT 1 FROM ends) AND c.tenant_id = t AND c.deleted_at IS NULL
        AND c.phone IS NOT NULL
        AND regexp_replace(coalesce(c.phone, ''), '\D', '', 'g') LIKE '%' || q_digits || '%'
      LIMIT cap)
    UNION
    (SELECT c.id FROM clients c
      WHERE phones AND NOT EXISTS (SELECT 1 FROM ends) AND c.tenant_id = t AND c.deleted_at IS NULL
        AND c.mobile_phone IS NOT NULL
        AND regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g') LIKE '%' || q_digits || '%'
      LIMIT cap);
END
$$;

ALTER FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8, float8, integer, text, text, uuid[], uuid)
    OWNER TO bizctx_search;
REVOKE ALL ON FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8, float8, integer, text, text, uuid[], uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bizctx_client_candidates(text, text, boolean, boolean, float8, float8, integer, text, text, uuid[], uuid) TO bizctx_app;

-- The vocabulary replaces the nearest-by-trigram arms of 0175; their indexes cost every write.
DROP INDEX clients_name_knn_idx, clients_company_knn_idx, clients_email_knn_idx;

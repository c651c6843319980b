-- Live clients matching a fuzzy query (name, company, and email/phone unless redacted for
-- the caller), ranked by score then id, one keyset page. Ranks only the candidates the
-- tenant-first indexes find (bizctx_client_candidates, migrations 0165, 0175 and 0185): per
-- index, 50 (or a page, if larger) past the cursor that pass the filters, read here as the
-- caller, under its row policies (the filters are applied here again, as the caller). Without
-- a query, browse_clients.sql.
WITH params AS (
    SELECT lower(btrim(%(query)s::text)) AS q,
           nullif(regexp_replace(coalesce(%(query)s::text, ''), '\D', '', 'g'), '') AS q_digits,
           -- The segments of that name the caller may see: the candidates' arms filter by them.
           CASE WHEN %(segment)s::text IS NOT NULL THEN ARRAY(
               SELECT s.id FROM client_segments s
               WHERE s.tenant_id = bizctx_tenant() AND lower(s.name) = lower(%(segment)s)) END AS segments
),
scored AS MATERIALIZED (
    SELECT c.*,
           CASE WHEN p.q IS NULL OR p.q = '' THEN 1.0::float8
           ELSE greatest(
               CASE WHEN lower(c.display_name) = p.q THEN 1.0
                    WHEN starts_with(lower(c.display_name), p.q) THEN 0.9
                    ELSE greatest(similarity(c.display_name, p.q), word_similarity(p.q, c.display_name)) END,
               CASE WHEN lower(c.company_name) = p.q THEN 1.0
                    WHEN starts_with(lower(c.company_name), p.q) THEN 0.9
                    ELSE coalesce(greatest(similarity(c.company_name, p.q), word_similarity(p.q, c.company_name)), 0) END,
               CASE WHEN NOT %(match_email)s OR c.email IS NULL THEN 0
                    WHEN c.email = p.q THEN 1.0
                    WHEN starts_with(c.email, p.q) THEN 0.9
                    ELSE similarity(c.email, p.q) END,
               CASE WHEN NOT %(match_phone)s OR p.q_digits IS NULL OR length(p.q_digits) < 3 THEN 0
                    WHEN regexp_replace(coalesce(c.phone, ''), '\D', '', 'g') = p.q_digits
                      OR regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g') = p.q_digits THEN 1.0
                    WHEN regexp_replace(coalesce(c.phone, ''), '\D', '', 'g') LIKE '%%' || p.q_digits || '%%'
                      OR regexp_replace(coalesce(c.mobile_phone, ''), '\D', '', 'g') LIKE '%%' || p.q_digits || '%%'
                    THEN 0.8
                    ELSE 0 END
           )::float8 END AS score
    FROM params p
    CROSS JOIN LATERAL bizctx_client_candidates(p.q, p.q_digits, %(match_email)s, %(match_phone)s,
                                                %(min_score)s, %(after_score)s::float8,
                                                greatest(%(limit)s::int, 50), %(status)s::text,
                                                %(tag)s::text, p.segments, %(after_id)s::uuid) AS k(id)
    JOIN clients c ON c.tenant_id = bizctx_tenant() AND c.id = k.id
    WHERE c.tenant_id = bizctx_tenant()
      AND c.deleted_at IS NULL
      AND (%(status)s::text IS NULL OR c.status = %(status)s)
      AND (%(tag)s::text IS NULL OR c.tags @> ARRAY[%(tag)s::text])
      AND (%(segment)s::text IS NULL OR EXISTS (
              SELECT 1 FROM client_segment_memberships m
              JOIN client_segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id
              WHERE m.tenant_id = c.tenant_id AND m.client_id = c.id AND lower(s.name) = lower(%(segment)s)))
)
SELECT id, display_name, client_type, company_name, email,
       coalesce(phone, mobile_phone) AS phone, status, lifecycle_stage, tags, score
FROM scored
WHERE score >= %(min_score)s
  AND (%(after_score)s::float8 IS NULL
       OR score < %(after_score)s::float8
       OR (score = %(after_score)s::float8 AND id > %(after_id)s::uuid))
ORDER BY score DESC, id
LIMIT %(limit)s

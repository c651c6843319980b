-- Grows the growth benchmark's tables (bench/growth_bench.py) from row %(from_n)s to row %(to_n)s,
-- server-side: every row comes from generate_series, none through Python.
--
-- Row i of each main table (clients, invoices, appointments, tasks, mem_docs) belongs to the
-- measured tenant (tenants[1]) unless i is a multiple of 10: those go round the other tenants,
-- so 90%% of every table is one business and the rest is its neighbours'. Ids are derived from
-- i (md5), so invoice i, appointment i, task i and memory i belong to client i, in its tenant.
-- Invoices: 1 in 50 is owed (open or partly paid, most of them overdue), the rest paid, void or
-- draft; appointments: 1 in 20 upcoming; tasks: 1 in 25 unfinished; memories: 90%% shared.
-- Run as the owner with session_replication_role = replica (no triggers, no foreign-key checks:
-- the rows are consistent by construction, and every CHECK still applies).
SET session_replication_role = replica;
DROP INDEX IF EXISTS mem_docs_embedding_idx;

CREATE TEMP TABLE IF NOT EXISTS growth_rows (
    i bigint PRIMARY KEY, tenant_id uuid NOT NULL, client_id uuid NOT NULL, service_id uuid NOT NULL,
    agent_id uuid NOT NULL
);
TRUNCATE growth_rows;
INSERT INTO growth_rows
SELECT g.i, t.tenant_id, md5('client-' || g.i)::uuid, t.service_id, t.agent_id
FROM generate_series(%(from_n)s::bigint + 1, %(to_n)s::bigint) AS g(i)
JOIN growth_tenants t
  ON t.slot = CASE WHEN g.i %% 10 = 0 THEN 1 + (g.i / 10) %% (SELECT count(*) - 1 FROM growth_tenants) ELSE 0 END;

INSERT INTO clients (tenant_id, id, client_type, first_name, last_name, company_name, email, phone,
                     status, lifecycle_stage, created_at, updated_at)
SELECT r.tenant_id, r.client_id,
       CASE WHEN r.i %% 7 = 0 THEN 'business' ELSE 'individual' END,
       initcap(s.s[1 + r.i %% 40] || s.s[1 + (r.i / 40) %% 40]),
       initcap(s.s[1 + (r.i * 7) %% 43] || s.s[1 + (r.i / 43) %% 41] || s.s[1 + (r.i / 1763) %% 37]),
       CASE WHEN r.i %% 7 = 0 THEN initcap(s.s[1 + (r.i / 3) %% 42] || s.s[1 + (r.i / 126) %% 39]) || ' Ltd' END,
       'client' || r.i || '@example.com',
       '+1 555 ' || lpad((r.i %% 10000000)::text, 7, '0'),
       'active', 'customer',
       now() - make_interval(mins => (r.i %% 500000)::int), now() - make_interval(mins => (r.i %% 500000)::int)
FROM growth_rows r
CROSS JOIN (SELECT string_to_array('ba be bo ka ke ko la le li lo ma me mi mo na ne ni no ra re ri ro sa se si '
                                   'so ta te ti to va ve vi wa yo za zu chen kim ann dav mar jo pet sam lu han',
                                   ' ') AS s) s;

INSERT INTO invoices (tenant_id, id, client_id, number, invoice_number, status, issue_date, due_date, currency,
                      subtotal, total, amount_paid, voided_at, created_at, updated_at)
SELECT r.tenant_id, md5('invoice-' || r.i)::uuid, r.client_id,
       CASE WHEN v.status <> 'draft' THEN r.i END,
       CASE WHEN v.status <> 'draft' THEN 'G-' || r.i END,
       v.status,
       CASE WHEN v.status <> 'draft' THEN v.issued END,
       CASE WHEN v.status <> 'draft' THEN v.issued + 30 END,
       CASE WHEN r.i %% 13 = 0 THEN 'EUR' ELSE 'USD' END,
       v.total, v.total,
       CASE v.status WHEN 'paid' THEN v.total WHEN 'partial' THEN v.total / 2 ELSE 0 END,
       CASE WHEN v.status = 'void' THEN now() END,
       now(), now()
FROM growth_rows r
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.i %% 50 = 1 THEN 'open' WHEN r.i %% 50 = 2 THEN 'partial'
                WHEN r.i %% 50 = 3 THEN 'void' WHEN r.i %% 200 = 4 THEN 'draft' ELSE 'paid' END AS status,
           current_date - (r.i %% 720)::int AS issued,
           (100 + r.i %% 900)::numeric(18, 4) AS total
) v;

INSERT INTO appointments (tenant_id, id, client_id, service_id, status, starts_at, ends_at, created_at,
                          updated_at, cancelled_at)
SELECT r.tenant_id, md5('appointment-' || r.i)::uuid, r.client_id, r.service_id, v.status,
       v.starts_at, v.starts_at + interval '1 hour', now(), now(),
       CASE WHEN v.status = 'cancelled' THEN now() END
FROM growth_rows r
CROSS JOIN LATERAL (
    SELECT date_trunc('hour', now()) + make_interval(hours => CASE WHEN r.i %% 20 = 0
                                                              THEN (r.i %% 2000)::int
                                                              ELSE -1 - (r.i %% 20000)::int END) AS starts_at,
           CASE WHEN r.i %% 20 = 0 THEN 'scheduled' WHEN r.i %% 31 = 0 THEN 'cancelled' ELSE 'completed' END
               AS status
) v;

INSERT INTO tasks (tenant_id, id, type, title, priority, status, created_by_agent_id, client_id,
                   completed_at, created_at, updated_at)
SELECT r.tenant_id, md5('task-' || r.i)::uuid, (ARRAY['follow_up', 'call', 'review'])[1 + r.i %% 3],
       'Task ' || r.i, (r.i %% 5)::int, v.status, r.agent_id, r.client_id,
       CASE WHEN v.status = 'completed' THEN now() END,
       now() - make_interval(secs => (%(to_n)s::bigint - r.i)::int), now()
FROM growth_rows r
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.i %% 25 = 0 THEN 'pending' ELSE 'completed' END AS status
) v;

-- Embeddings: unit-length 384-dimension vectors around 200 fixed directions (topics), so an
-- HNSW graph over them is as navigable as one over real embeddings.
INSERT INTO mem_docs (tenant_id, id, owner_agent_id, visibility, doc_type, title, content, embedding,
                      embedding_model, client_id, created_at, updated_at)
SELECT r.tenant_id, md5('mem-' || r.i)::uuid, r.agent_id,
       CASE WHEN r.i %% 10 = 5 THEN 'private' ELSE 'shared' END,
       (ARRAY['context', 'knowledge', 'template'])[1 + r.i %% 3],
       'Note ' || r.i,
       (ARRAY['gate code', 'lockbox', 'dog', 'parking permit', 'allergy', 'invoice dispute', 'carpet',
              'window', 'alarm', 'weekend'])[1 + r.i %% 10]
           || ' for client ' || r.i || ': '
           || (ARRAY['ring twice', 'key under the mat', 'call ahead', 'use the side door',
                     'no fragrance', 'pays by transfer'])[1 + r.i %% 6],
       e.embedding, 'growth-synthetic', r.client_id, now(), now()
FROM growth_rows r
CROSS JOIN LATERAL (
    SELECT l2_normalize(array_agg(sin((r.i %% 200) * 7.3 + d) + (random() - 0.5) * 0.6 ORDER BY d)::vector)
               AS embedding
    FROM generate_series(1, 384) AS d
) e;

SET session_replication_role = DEFAULT;

-- Memory documents: what agents remember (context, knowledge, templates), searchable
-- by meaning (pgvector) and by words (full text).
--
-- The embedding dimension is fixed per database at first migrate: taken from the
-- setting bizctx.embedding_dim when the migrator sets it (SET bizctx.embedding_dim =
-- '768' before running this file), else 384 (all-MiniLM-L6-v2), and recorded in
-- db_settings('embedding_dim'). An already recorded value wins. A vector of another
-- dimension is refused by pgvector ('expected N dimensions, not M', SQLSTATE 22000).

DO $$
DECLARE
    dim integer;
BEGIN
    dim := coalesce(nullif(btrim(current_setting('bizctx.embedding_dim', true)), '')::integer, 384);
    INSERT INTO db_settings (key, value) VALUES ('embedding_dim', dim::text)
        ON CONFLICT (key) DO NOTHING;
    SELECT value::integer INTO dim FROM db_settings WHERE key = 'embedding_dim';
    -- pgvector's HNSW index takes at most 2000 dimensions for vector.
    IF dim NOT BETWEEN 1 AND 2000 THEN
        RAISE EXCEPTION 'embedding_dim must be between 1 and 2000, got %', dim;
    END IF;

    EXECUTE format($sql$
        CREATE TABLE mem_docs (
            tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id              uuid NOT NULL DEFAULT gen_random_uuid(),
            owner_agent_id  uuid NOT NULL,
            -- private: the owner only; shared: every agent of the tenant with mem_docs.read.
            visibility      text NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'shared')),
            doc_type        text NOT NULL DEFAULT 'knowledge' CHECK (doc_type IN ('context', 'knowledge', 'template')),
            title           text CHECK (length(title) <= 500),
            -- Written by agents and outsiders: data, never instructions.
            content         text NOT NULL CHECK (length(btrim(content)) > 0),
            metadata        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
            embedding       vector(%s),
            embedding_model text CHECK (length(embedding_model) <= 200),
            -- Title words weigh more (A) than content words (B).
            search          tsvector GENERATED ALWAYS AS (
                                setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
                                || setweight(to_tsvector('english'::regconfig, content), 'B')) STORED,
            client_id       uuid,
            task_id         uuid,
            -- Touched by recall; does not move updated_at.
            last_accessed   timestamptz,
            -- Past it, the document is no longer recalled (filter expires_at > now()).
            expires_at      timestamptz,
            idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, idempotency_key),
            FOREIGN KEY (tenant_id, owner_agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE SET NULL (client_id),
            FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE SET NULL (task_id),
            CHECK (embedding IS NULL OR embedding_model IS NOT NULL)
        )$sql$, dim);
END
$$;

-- Nearest neighbours: ORDER BY embedding <=> $query LIMIT k (cosine distance). The
-- index is shared by all tenants, so filter tenant/visibility in the same query and
-- SET LOCAL hnsw.iterative_scan = relaxed_order (pgvector >= 0.8) to keep k results.
CREATE INDEX mem_docs_embedding_idx ON mem_docs USING hnsw (embedding vector_cosine_ops);
-- Full text: search @@ websearch_to_tsquery('english', $q), rank with ts_rank(search, ...).
CREATE INDEX mem_docs_search_idx ON mem_docs USING gin (search);
-- metadata @> $filter
CREATE INDEX mem_docs_metadata_idx ON mem_docs USING gin (metadata jsonb_path_ops);
CREATE INDEX mem_docs_owner_idx ON mem_docs (tenant_id, owner_agent_id, created_at DESC);
CREATE INDEX mem_docs_shared_idx ON mem_docs (tenant_id, doc_type, created_at DESC) WHERE visibility = 'shared';
CREATE INDEX mem_docs_client_idx ON mem_docs (tenant_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX mem_docs_task_idx ON mem_docs (tenant_id, task_id) WHERE task_id IS NOT NULL;
CREATE INDEX mem_docs_expires_idx ON mem_docs (tenant_id, expires_at) WHERE expires_at IS NOT NULL;
SELECT bizctx_secure_tenant_table('mem_docs');

-- Recall touches last_accessed; that is not an edit, so updated_at keeps its value.
-- Named to sort after touch_updated_at (BEFORE triggers fire in name order).
CREATE FUNCTION bizctx_mem_docs_keep_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - ARRAY['last_accessed', 'updated_at', 'search'])
       = (to_jsonb(OLD) - ARRAY['last_accessed', 'updated_at', 'search']) THEN
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER touch_updated_at_keep_on_access BEFORE UPDATE ON mem_docs
    FOR EACH ROW EXECUTE FUNCTION bizctx_mem_docs_keep_updated_at();

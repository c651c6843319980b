-- One demo memory document; the embedding is null when no embedder is at hand.
INSERT INTO mem_docs (tenant_id, owner_agent_id, visibility, doc_type, title, content, metadata, client_id,
                      embedding, embedding_model)
VALUES (%(tenant_id)s, %(owner_agent_id)s, %(visibility)s, %(doc_type)s, %(title)s, %(content)s, %(metadata)s,
        %(client_id)s, %(embedding)s::float8[]::vector, %(embedding_model)s)

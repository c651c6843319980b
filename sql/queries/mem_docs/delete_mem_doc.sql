-- Forgets (deletes) one memory document; only its owner, or an agent with scope all, may (row
-- policy mem_doc_delete). Returns what was removed. Index: mem_docs primary key (tenant_id, id).
DELETE FROM mem_docs
WHERE tenant_id = bizctx_tenant() AND id = %(mem_doc_id)s
RETURNING id, title

-- Whether the listening agent could have seen a memory document that is now deleted, from the
-- owner and visibility it had (its row policy's own test, under the agent's scope settings).
SELECT bizctx_mem_doc_in_scope(%(owner)s::uuid, %(visibility)s::text) AS visible

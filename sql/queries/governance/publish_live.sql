-- Publishes live-update hints after their transactions committed (never inside one: see
-- migration 0155). The payload is at most 8000 bytes; the caller splits larger batches.
SELECT pg_notify('bizctx_live', %(hints)s)

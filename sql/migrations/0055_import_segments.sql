-- Client imports name the segments each client belongs to (a `segments` list of names),
-- so a business's own groupings (weekly clients, VIPs) load with its clients instead of
-- needing hand-written SQL. Segments a file names are created when missing.

ALTER TABLE bizctx_import.clients ADD COLUMN segments text;

-- A staged client's segment names, one row per name (a list cell that is not a list
-- yields none; validation reports it).
CREATE VIEW bizctx_import.client_segment_rows AS
SELECT s.line, s.id AS client_id, e.n, e.name
FROM bizctx_import.clients s
CROSS JOIN LATERAL unnest(bizctx_import.text_list(s.segments)) WITH ORDINALITY AS e(name, n)
WHERE s.segments IS NOT NULL;

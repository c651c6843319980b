-- Replaces a tenant's collections ladder whole: its steps numbered in the order given (the
-- steps beyond them removed; one statement sees one snapshot, so the rest are upserted).
WITH gone AS (
    DELETE FROM collection_ladders
    WHERE tenant_id = %(tenant_id)s::uuid AND step > cardinality(%(days)s::integer[])
)
INSERT INTO collection_ladders (tenant_id, step, days, channel, template)
SELECT %(tenant_id)s::uuid, s.step, s.days, s.channel, s.template
FROM unnest(%(days)s::integer[], %(channels)s::text[], %(templates)s::text[])
     WITH ORDINALITY AS s (days, channel, template, step)
ON CONFLICT (tenant_id, step) DO UPDATE
SET days = EXCLUDED.days, channel = EXCLUDED.channel, template = EXCLUDED.template

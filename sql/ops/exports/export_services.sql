-- The tenant's services in import form: one JSON object per service, by code.
-- Index: services (tenant_id, code) unique.
SELECT json_build_object(
    'external_ref', v.external_ref,
    'code', v.code,
    'name', v.name,
    'description', v.description,
    'duration_minutes', v.duration_minutes,
    'price', bizctx_import.money_text(v.price, v.currency),
    'currency', v.currency,
    'tax_pct', trim_scale(v.tax_pct)::text,
    'required_capabilities', to_json(v.required_capabilities),
    'active', v.active
) AS record
FROM services v
WHERE v.tenant_id = %(tenant_id)s
ORDER BY v.code

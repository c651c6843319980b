-- For staged services that update an existing one: columns the file does not have take the
-- service's current values. Index: services primary key (tenant_id, id).
UPDATE bizctx_import.services s
SET external_ref = CASE WHEN 'external_ref' = ANY(%(columns)s::text[]) THEN s.external_ref ELSE v.external_ref END,
    code = CASE WHEN 'code' = ANY(%(columns)s::text[]) THEN s.code ELSE v.code END,
    name = CASE WHEN 'name' = ANY(%(columns)s::text[]) THEN s.name ELSE v.name END,
    description = CASE WHEN 'description' = ANY(%(columns)s::text[]) THEN s.description ELSE v.description END,
    duration_minutes = CASE WHEN 'duration_minutes' = ANY(%(columns)s::text[]) THEN s.duration_minutes
                            ELSE v.duration_minutes::text END,
    price = CASE WHEN 'price' = ANY(%(columns)s::text[]) THEN s.price ELSE trim_scale(v.price)::text END,
    currency = CASE WHEN 'currency' = ANY(%(columns)s::text[]) THEN s.currency ELSE v.currency END,
    tax_pct = CASE WHEN 'tax_pct' = ANY(%(columns)s::text[]) THEN s.tax_pct ELSE trim_scale(v.tax_pct)::text END,
    required_capabilities = CASE WHEN 'required_capabilities' = ANY(%(columns)s::text[]) THEN s.required_capabilities
                                 ELSE to_jsonb(v.required_capabilities)::text END,
    active = CASE WHEN 'active' = ANY(%(columns)s::text[]) THEN s.active ELSE v.active::text END
FROM services v
WHERE v.tenant_id = %(tenant_id)s AND v.id = s.target_id

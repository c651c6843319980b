-- Changes an appointment's status, writing nothing when unchanged; the trigger refuses invalid transitions (BZ001).
-- Index: appointments primary key.
UPDATE appointments
SET status = %(status)s::text,
    cancellation_reason = CASE WHEN %(status)s::text = 'cancelled' THEN %(reason)s::text
                               ELSE cancellation_reason END
WHERE tenant_id = bizctx_tenant() AND id = %(appointment_id)s::uuid AND status <> %(status)s::text

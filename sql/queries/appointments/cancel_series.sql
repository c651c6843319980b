-- Ends a series: the series is cancelled and its occurrences not yet started (scheduled or
-- confirmed, starting after now) are cancelled with the reason; the appointments_sync trigger
-- frees their resources and cancels their reminders. Returns the series' status and the ids
-- cancelled now. Index: appointment_series primary key; appointments_series_idx.
WITH s AS (
    UPDATE appointment_series
    SET status = 'cancelled', cancelled_at = coalesce(cancelled_at, now()),
        cancel_reason = coalesce(cancel_reason, %(reason)s::text)
    WHERE tenant_id = bizctx_tenant() AND id = %(series_id)s::uuid
    RETURNING id
),
cancelled AS (
    UPDATE appointments a
    SET status = 'cancelled', cancellation_reason = %(reason)s::text
    FROM s
    WHERE a.tenant_id = bizctx_tenant() AND a.series_id = s.id
      AND a.status IN ('scheduled', 'confirmed') AND a.starts_at > now()
    RETURNING a.id, a.starts_at
)
SELECT s.id AS series_id,
       coalesce((SELECT array_agg(c.id ORDER BY c.starts_at) FROM cancelled c), '{}') AS cancelled_ids
FROM s

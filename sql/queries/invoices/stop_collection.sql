-- Stops an invoice's running ladder; its id (nothing when none runs). Its scheduled steps
-- are skipped and its unclaimed task cancelled by collection_steps_due. Index:
-- collections_active_key.
UPDATE collections
SET status = 'stopped', ended_at = now(), end_reason = %(reason)s
WHERE tenant_id = bizctx_tenant() AND invoice_id = %(invoice_id)s AND status = 'active'
RETURNING id

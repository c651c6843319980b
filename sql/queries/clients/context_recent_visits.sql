-- The client's last visits with a delivery record or feedback, newest first, for the context
-- view; texts cut to max_chars. Index: appointments (tenant_id, client_id, starts_at).
SELECT a.id AS appointment_id, a.starts_at, s.name AS service_name,
       left(d.issues, %(max_chars)s) AS issues, coalesce(d.follow_up_needed, false) AS follow_up_needed,
       d.follow_up_at, f.overall_rating, f.would_recommend, left(f.comments, %(max_chars)s) AS comments
FROM appointments a
JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
LEFT JOIN service_deliveries d ON d.tenant_id = a.tenant_id AND d.appointment_id = a.id
LEFT JOIN appointment_feedback f ON f.tenant_id = a.tenant_id AND f.appointment_id = a.id
WHERE a.tenant_id = bizctx_tenant() AND a.client_id = %(client_id)s
  AND (d.id IS NOT NULL OR f.id IS NOT NULL)
ORDER BY a.starts_at DESC, a.id DESC
LIMIT %(limit)s

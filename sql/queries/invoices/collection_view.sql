-- An invoice's latest ladder with its steps and their tasks' states (a task outside the
-- caller's scope shows none). A ladder whose invoice was settled since shows as completed.
-- Indexes: collections_invoice_idx, collection_steps primary key.
SELECT c.id, c.invoice_id, c.client_id,
       CASE WHEN c.status = 'active' AND i.status IN ('paid', 'void') THEN 'completed' ELSE c.status END AS status,
       CASE WHEN c.status = 'active' AND i.status = 'paid' THEN 'The invoice was paid.'
            WHEN c.status = 'active' AND i.status = 'void' THEN 'The invoice was voided.'
            ELSE c.end_reason END AS end_reason,
       c.started_at, c.ended_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                    'step', s.step, 'channel', s.channel, 'template', s.template, 'due_at', s.due_at,
                    'status', s.status, 'task_id', s.task_id, 'task_status', tk.status, 'note', s.note)
                    ORDER BY s.step)
                   FROM collection_steps s
                   LEFT JOIN tasks tk ON tk.tenant_id = s.tenant_id AND tk.id = s.task_id
                  WHERE s.tenant_id = c.tenant_id AND s.collection_id = c.id), '[]'::jsonb) AS steps
FROM collections c
JOIN invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
WHERE c.tenant_id = bizctx_tenant() AND c.invoice_id = %(invoice_id)s
ORDER BY c.started_at DESC
LIMIT 1

-- An appointment's delivery record, written or corrected whole; the follow-up task it already
-- has is kept. Foreign keys: service_deliveries_resource_fk (delivered_by).
-- Index: service_deliveries_one_per_appointment (tenant_id, appointment_id).
INSERT INTO service_deliveries AS d (tenant_id, appointment_id, started_at, ended_at, delivered_by, notes,
                                     checklist, issues, follow_up_needed, follow_up_at, recorded_by_agent_id)
VALUES (bizctx_tenant(), %(appointment_id)s::uuid, %(started_at)s::timestamptz, %(ended_at)s::timestamptz,
        %(delivered_by)s::uuid, %(notes)s::text, %(checklist)s::jsonb, %(issues)s::text,
        %(follow_up_needed)s::boolean, %(follow_up_at)s::timestamptz, bizctx_agent())
ON CONFLICT (tenant_id, appointment_id) DO UPDATE
SET started_at = excluded.started_at, ended_at = excluded.ended_at, delivered_by = excluded.delivered_by,
    notes = excluded.notes, checklist = excluded.checklist, issues = excluded.issues,
    follow_up_needed = excluded.follow_up_needed, follow_up_at = excluded.follow_up_at,
    recorded_by_agent_id = excluded.recorded_by_agent_id
RETURNING d.id, d.follow_up_task_id

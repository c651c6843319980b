-- A client's feedback on an appointment, once (appointment_feedback_one_per_appointment).
INSERT INTO appointment_feedback (tenant_id, appointment_id, overall_rating, staff_rating, service_rating,
                                  value_rating, comments, would_recommend, recorded_by_agent_id)
VALUES (bizctx_tenant(), %(appointment_id)s::uuid, %(overall_rating)s::smallint, %(staff_rating)s::smallint,
        %(service_rating)s::smallint, %(value_rating)s::smallint, %(comments)s::text,
        %(would_recommend)s::boolean, bizctx_agent())
RETURNING id

-- The statuses an appointment in `status` can move to (appointment_transitions), in the order of
-- an appointment's life; none for a final status. Index: appointment_transitions primary key.
SELECT coalesce(array_agg(to_status ORDER BY position), '{}') AS statuses
FROM appointment_transitions
WHERE from_status = %(status)s::text

-- Fresh statistics for the tables an import just filled. Index: none.
ANALYZE appointments, appointment_resources

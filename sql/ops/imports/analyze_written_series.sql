-- Fresh statistics for the tables an import just filled. Index: none.
ANALYZE appointment_series

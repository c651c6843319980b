-- Fresh statistics for the tables an import just filled. Index: none.
ANALYZE resource_availability, resource_unavailability

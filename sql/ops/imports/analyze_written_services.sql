-- Fresh statistics for the table an import just filled. Index: none.
ANALYZE services

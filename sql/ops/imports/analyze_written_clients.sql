-- Fresh statistics for the tables an import just filled, so the next import and the agents'
-- queries are planned for the rows that are there now. Index: none.
ANALYZE clients, client_addresses, client_preferences, opt_outs, client_segments, client_segment_memberships

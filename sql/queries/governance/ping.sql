-- Whether the database answers (for /healthz); returns no data.
SELECT 1 AS ok

-- The vector dimension this database was created with (fixed at first migrate).
-- Index: db_settings primary key.
SELECT value::integer AS dim FROM db_settings WHERE key = 'embedding_dim'

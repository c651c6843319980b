-- `bizctx import series` and an appointment's series_ref: a recurring series is its rule (a
-- series row) and its occurrences (appointments naming it), so a business moving here keeps
-- which visits belong together and cancel_series works on them. Staged like the other kinds
-- (0020). A series may carry the business's own reference, as every imported kind does.

ALTER TABLE appointment_series
    ADD COLUMN external_ref text CHECK (length(external_ref) BETWEEN 1 AND 200),
    ADD CONSTRAINT appointment_series_external_ref_key UNIQUE (tenant_id, external_ref);

CREATE UNLOGGED TABLE bizctx_import.series (
    line            integer NOT NULL,
    external_ref    text,
    client_ref      text,
    service_code    text,
    resource_ref    text,
    frequency       text,
    monthly_by      text,
    first_starts_at text,
    time_zone       text,
    until_date      text,
    occurrences     text,
    status          text,
    cancel_reason   text,
    target_id       uuid,
    id              uuid,
    client_id       uuid,
    service_id      uuid,
    resource_id     uuid
);
CREATE INDEX ON bizctx_import.series (line);

ALTER TABLE bizctx_import.appointments ADD COLUMN series_ref text, ADD COLUMN series_id uuid;

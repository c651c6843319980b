-- Imports and exports (`bizctx import KIND FILE`, `bizctx export KIND`): staging tables
-- that COPY fills with raw text, helper functions the set-based checks share, and an
-- external_ref on weekly hours and time off so a re-import updates them in place.
--
-- Why permanent (UNLOGGED) staging tables and not TEMP ones: every named query is
-- parsed on the server at start-up on a fresh connection, where a temporary table would
-- not exist, so a query reading one would stop start-up. Staging rows still never
-- outlive their import: an import writes and deletes its own rows in one transaction
-- (a dry run or a failed import rolls them back), so no staging row is ever committed,
-- each import sees only its own rows (MVCC), and concurrent imports never meet. The
-- schema has no grants: agents (bizctx_app) cannot see it.

CREATE SCHEMA bizctx_import;
REVOKE ALL ON SCHEMA bizctx_import FROM PUBLIC;

-- Is `value` valid input for `type_name`? (NULL is.) pg_input_is_valid on PostgreSQL 16+,
-- a caught cast on 15.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 160000 THEN
        EXECUTE $f$
            CREATE FUNCTION bizctx_import.is_valid(value text, type_name text) RETURNS boolean
                LANGUAGE sql STABLE PARALLEL SAFE
                AS 'SELECT value IS NULL OR pg_input_is_valid(value, type_name)'
        $f$;
    ELSE
        EXECUTE $f$
            CREATE FUNCTION bizctx_import.is_valid(value text, type_name text) RETURNS boolean
                LANGUAGE plpgsql STABLE AS $body$
            BEGIN
                IF value IS NOT NULL THEN
                    EXECUTE format('SELECT %L::%s', value, type_name);
                END IF;
                RETURN true;
            EXCEPTION WHEN others THEN
                RETURN false;
            END
            $body$
        $f$;
    END IF;
END
$$;

-- Strict ISO 8601 forms: what the README documents, and nothing PostgreSQL would also
-- accept ('today', 'epoch', '01/02/2024' read by DateStyle).
CREATE FUNCTION bizctx_import.is_date(value text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT value IS NULL OR (value ~ '^\d{4}-\d{2}-\d{2}$' AND bizctx_import.is_valid(value, 'date'))
$$;

-- A time of day, HH:MM or HH:MM:SS; 24:00 is the end of the day.
CREATE FUNCTION bizctx_import.is_time(value text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT value IS NULL OR (value ~ '^\d{2}:\d{2}(:\d{2})?$' AND bizctx_import.is_valid(value, 'time'))
$$;

-- A timestamp WITH its offset (Z or +hh:mm): a naive time is refused, not guessed.
CREATE FUNCTION bizctx_import.is_timestamp(value text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT value IS NULL
        OR (value ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}(:?\d{2})?)$'
            AND bizctx_import.is_valid(value, 'timestamptz'))
$$;

-- A non-negative decimal with at most int_digits digits before the point and
-- frac_digits after it (what a NUMERIC column stores without rounding it).
CREATE FUNCTION bizctx_import.is_decimal(value text, int_digits integer, frac_digits integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT value IS NULL
        OR value ~ ('^\d{1,' || int_digits || '}(\.\d{1,' || frac_digits || '})?$')
$$;

CREATE FUNCTION bizctx_import.is_integer(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT value IS NULL OR value ~ '^\d{1,9}$'
$$;

CREATE FUNCTION bizctx_import.is_bool(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT value IS NULL OR lower(btrim(value)) IN ('true', 'false', 't', 'f', 'yes', 'no', 'y', 'n', '1', '0')
$$;

-- The same e-mail rule as the MCP tools.
CREATE FUNCTION bizctx_import.is_email(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT value IS NULL
        OR (length(btrim(value)) <= 320 AND lower(btrim(value)) ~ '^[^@\s]+@[^@\s]+\.[^@\s.]+$')
$$;

-- The same phone rule as the MCP tools: 7 to 15 digits; + ( ) - . / x and spaces allowed.
CREATE FUNCTION bizctx_import.is_phone(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT value IS NULL
        OR (btrim(value) ~ '^[0-9+()\-./x\s]+$'
            AND length(regexp_replace(value, '[^0-9]', '', 'g')) BETWEEN 7 AND 15)
$$;

-- A list cell: a JSON array of strings ('["a", "b"]') or text separated by ';'
-- ('a; b'). Blank entries are dropped. NULL when the JSON is not an array of scalars.
-- plpgsql, one test per statement: in a SQL function the planner may fold the cast of a
-- constant argument before the test that guards it.
CREATE FUNCTION bizctx_import.text_list(value text) RETURNS text[]
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    parsed jsonb;
BEGIN
    IF value IS NULL THEN
        RETURN '{}'::text[];
    END IF;
    IF left(btrim(value), 1) <> '[' THEN
        RETURN ARRAY(SELECT btrim(e) FROM unnest(string_to_array(value, ';')) e WHERE btrim(e) <> '');
    END IF;
    IF NOT bizctx_import.is_valid(value, 'jsonb') THEN
        RETURN NULL;
    END IF;
    parsed := value::jsonb;
    IF jsonb_typeof(parsed) <> 'array'
       OR jsonb_path_exists(parsed, '$[*] ? (@.type() == "object" || @.type() == "array" || @.type() == "null")') THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT btrim(e) FROM jsonb_array_elements_text(parsed) e WHERE btrim(e) <> '');
END
$$;

-- A JSON cell parsed, or NULL when it is not JSON.
CREATE FUNCTION bizctx_import.json_value(value text) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF bizctx_import.is_valid(value, 'jsonb') THEN
        RETURN value::jsonb;
    END IF;
    RETURN NULL;
END
$$;

-- ISO weekday 1 (Monday) .. 7 (Sunday) from '1'..'7' or a day name ('mon', 'Monday').
CREATE FUNCTION bizctx_import.weekday(value text) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_position(ARRAY['1', '2', '3', '4', '5', '6', '7'], btrim(value)),
                    array_position(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], lower(btrim(value))),
                    array_position(ARRAY['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday',
                                         'sunday'], lower(btrim(value))))::smallint
$$;

-- A reference to a row of another kind: its external_ref, or (for a row that has none)
-- its bizctx id. The id form, or NULL.
CREATE FUNCTION bizctx_import.ref_id(value text) RETURNS uuid
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF btrim(value) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN btrim(value)::uuid;
    END IF;
    RETURN NULL;
END
$$;

-- Export forms. Money with the currency's minor unit ('120.00', 'JPY 500'), more places
-- only when the value has them (a unit price of 0.125).
CREATE FUNCTION bizctx_import.money_text(amount numeric, currency char(3)) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN amount IS NULL THEN NULL
        WHEN scale(trim_scale(amount)) <= currency_minor_unit(coalesce(currency, 'USD'))
            THEN round(amount, currency_minor_unit(coalesce(currency, 'USD')))::text
        ELSE trim_scale(amount)::text
    END
$$;

-- An instant as ISO 8601 in a time zone, with its offset: '2025-03-04T09:30:00+01:00'.
CREATE FUNCTION bizctx_import.iso_timestamp(ts timestamptz, zone text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM ts)::bigint % 1000000 <> 0
                THEN rtrim(to_char(ts AT TIME ZONE zone, '.US'), '0') ELSE '' END
        || CASE WHEN off < 0 THEN '-' ELSE '+' END
        || to_char(abs(off) / 3600, 'FM00') || ':' || to_char(abs(off) % 3600 / 60, 'FM00')
      FROM (SELECT extract(epoch FROM (ts AT TIME ZONE zone) - (ts AT TIME ZONE 'UTC'))::integer AS off) o
$$;

CREATE FUNCTION bizctx_import.time_text(t time) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN extract(second FROM t) = 0 THEN to_char(t, 'HH24:MI') ELSE to_char(t, 'HH24:MI:SS') END
$$;

-- Staging tables: one per kind, one row per file row, every file column as raw text
-- (so a bad value is reported, not a COPY failure), `line` the row's line in the file,
-- then what the resolve step works out: the existing row it updates (target_id, NULL for
-- a new one), the id it will have, and the ids its references name.

CREATE UNLOGGED TABLE bizctx_import.clients (
    line            integer NOT NULL,
    external_ref    text,
    client_type     text,
    first_name      text,
    last_name       text,
    company_name    text,
    email           text,
    phone           text,
    mobile_phone    text,
    date_of_birth   text,
    time_zone       text,
    status          text,
    lifecycle_stage text,
    tags            text,
    notes           text,
    addresses       text,
    preferences     text,
    opt_outs        text,
    target_id       uuid,
    id              uuid
);

CREATE UNLOGGED TABLE bizctx_import.services (
    line                  integer NOT NULL,
    external_ref          text,
    code                  text,
    name                  text,
    description           text,
    duration_minutes      text,
    price                 text,
    currency              text,
    required_capabilities text,
    active                text,
    target_id             uuid,
    id                    uuid
);

CREATE UNLOGGED TABLE bizctx_import.resources (
    line         integer NOT NULL,
    external_ref text,
    kind         text,
    name         text,
    email        text,
    time_zone    text,
    capabilities text,
    active       text,
    target_id    uuid,
    id           uuid
);

-- Weekly hours (weekday set) and time off (starts_at set) share one file.
CREATE UNLOGGED TABLE bizctx_import.availability (
    line         integer NOT NULL,
    external_ref text,
    resource_ref text,
    weekday      text,
    start_time   text,
    end_time     text,
    starts_at    text,
    ends_at      text,
    reason       text,
    resource_id  uuid,
    target_id    uuid,
    id           uuid
);

CREATE UNLOGGED TABLE bizctx_import.appointments (
    line                integer NOT NULL,
    external_ref        text,
    client_ref          text,
    service_code        text,
    resource_refs       text,
    starts_at           text,
    ends_at             text,
    status              text,
    location            text,
    notes               text,
    price               text,
    currency            text,
    cancellation_reason text,
    target_id           uuid,
    id                  uuid,
    client_id           uuid,
    service_id          uuid,
    -- One entry per named resource, NULL where the name matched nothing.
    resource_ids        uuid[]
);

CREATE UNLOGGED TABLE bizctx_import.invoices (
    line           integer NOT NULL,
    external_ref   text,
    invoice_number text,
    client_ref     text,
    status         text,
    issue_date     text,
    due_date       text,
    currency       text,
    notes          text,
    void_reason    text,
    total          text,
    items          text,
    payments       text,
    target_id      uuid,
    id             uuid,
    client_id      uuid,
    -- Worked out by settle_invoices: whether the items differ from the invoice's current
    -- ones, the total they come to, what the payments sum to, and the status it ends in.
    items_changed  boolean,
    items_total    numeric,
    paid_total     numeric,
    final_status   text
);

-- An invoice row's items and payments, one row per element of its JSON array (expanded
-- from bizctx_import.invoices), with the references resolved. `raw` is the element itself.
CREATE UNLOGGED TABLE bizctx_import.invoice_items (
    line            integer NOT NULL,
    invoice_id      uuid,
    position        integer NOT NULL,
    raw             jsonb,
    description     text,
    quantity        text,
    unit_price      text,
    discount_pct    text,
    tax_pct         text,
    service_code    text,
    appointment_ref text,
    service_id      uuid,
    appointment_id  uuid,
    -- The numbers, when they are numbers (NULL otherwise; validation says why).
    quantity_n      numeric,
    unit_price_n    numeric,
    discount_n      numeric,
    tax_n           numeric
);

CREATE UNLOGGED TABLE bizctx_import.invoice_payments (
    line         integer NOT NULL,
    invoice_id   uuid,
    n            integer NOT NULL,
    raw          jsonb,
    external_ref text,
    amount       text,
    method       text,
    paid_at      text,
    reference    text,
    notes        text,
    amount_n     numeric,
    paid_at_t    timestamptz,
    -- The payment already recorded that this element is (by external_ref, else by amount,
    -- time and method); NULL for a new one.
    target_id    uuid
);

-- Weekly hours and time off can come from another system too.
ALTER TABLE resource_availability ADD COLUMN external_ref text CHECK (length(external_ref) BETWEEN 1 AND 200);
ALTER TABLE resource_availability ADD CONSTRAINT resource_availability_external_ref_key
    UNIQUE (tenant_id, external_ref);
ALTER TABLE resource_unavailability ADD COLUMN external_ref text CHECK (length(external_ref) BETWEEN 1 AND 200);
ALTER TABLE resource_unavailability ADD CONSTRAINT resource_unavailability_external_ref_key
    UNIQUE (tenant_id, external_ref);

-- The child rows a staged row carries as JSON, one row per element, normalised as they
-- will be written (text; validate_* checks them, write queries cast them). An element
-- that is not an object yields NULL fields, which validation reports.
CREATE VIEW bizctx_import.client_address_rows AS
SELECT s.line, s.id AS client_id, e.n, e.v,
       coalesce(lower(btrim(e.v ->> 'kind')), 'service') AS kind,
       nullif(btrim(e.v ->> 'label'), '') AS label,
       nullif(btrim(e.v ->> 'line1'), '') AS line1,
       nullif(btrim(e.v ->> 'line2'), '') AS line2,
       nullif(btrim(e.v ->> 'city'), '') AS city,
       nullif(btrim(e.v ->> 'region'), '') AS region,
       nullif(btrim(e.v ->> 'postal_code'), '') AS postal_code,
       upper(nullif(btrim(e.v ->> 'country'), '')) AS country,
       nullif(e.v ->> 'access_notes', '') AS access_notes,
       coalesce(lower(btrim(e.v ->> 'is_primary')) IN ('true', 't', 'yes', 'y', '1'), false) AS is_primary
FROM bizctx_import.clients s
CROSS JOIN LATERAL (SELECT bizctx_import.json_value(s.addresses) AS j) p
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.j) = 'array' THEN p.j END) WITH ORDINALITY AS e(v, n);

-- Opt-outs: "email" or {"channel": "email", "reason": "..."}.
CREATE VIEW bizctx_import.client_opt_out_rows AS
SELECT s.line, s.id AS client_id, e.n, e.v,
       lower(btrim(CASE jsonb_typeof(e.v) WHEN 'string' THEN e.v #>> '{}' ELSE e.v ->> 'channel' END)) AS channel,
       CASE jsonb_typeof(e.v) WHEN 'object' THEN nullif(e.v ->> 'reason', '') END AS reason
FROM bizctx_import.clients s
CROSS JOIN LATERAL (SELECT bizctx_import.json_value(s.opt_outs) AS j) p
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.j) = 'array' THEN p.j END) WITH ORDINALITY AS e(v, n);

CREATE INDEX ON bizctx_import.clients (line);
CREATE INDEX ON bizctx_import.services (line);
CREATE INDEX ON bizctx_import.resources (line);
CREATE INDEX ON bizctx_import.availability (line);
CREATE INDEX ON bizctx_import.appointments (line);
CREATE INDEX ON bizctx_import.invoices (line);
CREATE INDEX ON bizctx_import.invoice_items (line);
CREATE INDEX ON bizctx_import.invoice_payments (line);

-- `bizctx import subscriptions` and `bizctx export subscriptions`: a client's plan with its
-- items inline (JSON), staged like the other kinds (0020): raw text per column, checked by
-- validate_subscriptions, then written. Periods already billed are the billing run's record
-- and are not imported; next_billing_on says where billing goes on.

CREATE UNLOGGED TABLE bizctx_import.subscriptions (
    line            integer NOT NULL,
    external_ref    text,
    client_ref      text,
    plan_name       text,
    status          text,
    billing_cycle   text,
    billing_day     text,
    currency        text,
    starts_on       text,
    ends_on         text,
    auto_renew      text,
    next_billing_on text,
    paused_until    text,
    cancel_reason   text,
    items           text,
    target_id       uuid,
    id              uuid,
    client_id       uuid
);

CREATE UNLOGGED TABLE bizctx_import.subscription_items (
    line            integer NOT NULL,
    subscription_id uuid,
    position        integer NOT NULL,
    raw             jsonb,
    description     text,
    quantity        text,
    unit_price      text,
    discount_pct    text,
    tax_pct         text,
    service_code    text,
    service_id      uuid,
    -- The numbers, when they are numbers (NULL otherwise; validation says why).
    quantity_n      numeric,
    unit_price_n    numeric,
    discount_n      numeric,
    tax_n           numeric
);

CREATE INDEX ON bizctx_import.subscriptions (line);
CREATE INDEX ON bizctx_import.subscription_items (line);

-- Takes one use (and an amount) from a limit's counter for a subject, under the counter's row
-- lock; allowed, or how many seconds until it frees up. See bizctx_take_limit (migration 0060).
SELECT allowed, retry_after_s
FROM bizctx_take_limit(%(policy_id)s::uuid, %(subject)s::text, %(window_seconds)s::integer,
                       %(max_calls)s::integer, %(max_amount)s::numeric, %(amount)s::numeric)

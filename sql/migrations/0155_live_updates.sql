-- Every write to a row a live resource shows leaves a hint in its own transaction, for the
-- server to publish after COMMIT.
--
-- Why a transaction-local setting and not NOTIFY here: a NOTIFY queued by a transaction takes
-- a database-wide lock at commit (PreCommit_Notify), so every writing call would commit one at
-- a time behind it. The hint is appended to `bizctx.live` (set_config(..., true): it lives
-- and dies with the transaction, a rolled-back savepoint drops its part), read back in the
-- commit's own round trip, and published after COMMIT (NOTIFY outside any transaction,
-- coalesced by the server). Triggers catch every writer alike: tools, approvals running a
-- held call, the billing run, imports and the CLI.
--
-- A hint is `tenant|domain|row id|client id|detail`, one per line, never trusted: whoever
-- receives one re-reads what it names under the listener's own rights before telling anyone.
-- detail is, for appointments, the start instants before and after (epoch seconds: "today" is
-- a date in the tenant's zone, decided by the receiver); for a client, the columns that changed,
-- and for an address, `address` (so a change only to a field redacted for a listener tells it
-- nothing).
-- A transaction that writes many rows (an import) stops adding lines past 6,000 characters and
-- adds one `tenant|*` line instead: every live resource of that tenant may have changed.

CREATE FUNCTION bizctx_live_note() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    domain  text := TG_ARGV[0];
    old_row jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
    r       jsonb := coalesce(new_row, old_row);
    so_far  text := coalesce(current_setting('bizctx.live', true), '');
    detail  text := '';
    line    text;
BEGIN
    IF length(so_far) > 6000 THEN
        line := (r->>'tenant_id') || '|*';
        IF position(line IN so_far) = 0 THEN
            PERFORM set_config('bizctx.live', so_far || line || E'\n', true);
        END IF;
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'appointments' THEN
        detail := coalesce(extract(epoch FROM (old_row->>'starts_at')::timestamptz)::bigint::text, '')
               || ',' || coalesce(extract(epoch FROM (new_row->>'starts_at')::timestamptz)::bigint::text, '');
    ELSIF TG_TABLE_NAME = 'client_addresses' THEN
        detail := 'address';  -- one redactable field, whatever column of it changed
    ELSIF TG_TABLE_NAME = 'clients' THEN
        IF TG_OP = 'UPDATE' THEN
            -- Bookkeeping columns change with every write: they say nothing on their own.
            SELECT coalesce(string_agg(n.key, ',' ORDER BY n.key), '') INTO detail
              FROM jsonb_each(new_row) n
              JOIN jsonb_each(old_row) o USING (key)
             WHERE n.value IS DISTINCT FROM o.value
               AND n.key NOT IN ('updated_at', 'idempotency_key');
            IF detail = '' THEN
                RETURN NULL;
            END IF;
        ELSE
            detail := '*';
        END IF;
    END IF;
    line := concat_ws('|', r->>'tenant_id', domain,
                      CASE WHEN TG_TABLE_NAME = 'clients' THEN r->>'id' ELSE coalesce(r->>'id', '') END,
                      CASE WHEN TG_TABLE_NAME = 'clients' THEN r->>'id' ELSE coalesce(r->>'client_id', '') END,
                      detail);
    IF position(line IN so_far) = 0 THEN
        PERFORM set_config('bizctx.live', so_far || line || E'\n', true);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('clients');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON client_addresses
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('clients');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON client_preferences
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('clients');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON client_interactions
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('clients');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON appointments
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('appointments');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('invoices');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('tasks');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON mem_docs
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('mem_docs');

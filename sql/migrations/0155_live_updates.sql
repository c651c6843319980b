-- Every write to a row a live resource shows leaves a hint in its own transaction, for the
-- server to publish after COMMIT.
--
-- Why a transaction-local setting and not NOTIFY here: a NOTIFY queued by a transaction takes
-- a database-wide lock at commit (PreCommit_Notify), so every writing call would commit one at
-- a time behind it. The hint is appended to `bizctx.live` (set_config(..., true): it lives
-- and dies with the transaction, a rolled-back savepoint drops its part), read back before
-- COMMIT by whoever commits (server/database.py, the importer), and published after COMMIT
-- (NOTIFY outside any transaction, coalesced by the server). Triggers catch every writer
-- alike: tools, approvals running a held call, the billing run, imports and the CLI.
--
-- A hint is `tenant|domain|row id|client id|detail`, one per line, never trusted: whoever
-- receives one re-reads what it names under the listener's own rights before telling anyone.
-- A row that moves from one client to another gives a line for each. detail is:
--   appointments: the start instants before and after (epoch seconds: "today" is a date in
--     the tenant's zone, decided by the receiver);
--   clients: the redactable columns that changed, and `profile` for any other (so a change
--     only to a field redacted for a listener tells it nothing); an address: `address`;
--   tasks: the assignee it had, when that changed (its queue changed too);
--   mem_docs, deleted: `gone:<owner>:<visibility>` (the receiver can no longer read the row
--     to decide whether the listener could see it; it decides from these).
-- A transaction whose hints pass 6,000 characters (an import) adds, per domain, one line
-- `tenant|domain|*||` instead: every row of that domain may have changed. The check comes
-- first, so rows past it cost one comparison.

CREATE FUNCTION bizctx_live_line(tenant uuid, domain text, row_id uuid, client_id uuid, detail text)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT concat_ws('|', tenant::text, domain, coalesce(row_id::text, ''), coalesce(client_id::text, ''),
                     coalesce(detail, ''))
$$;

CREATE FUNCTION bizctx_live_note() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    domain  text := TG_ARGV[0];
    so_far  text := coalesce(current_setting('bizctx.live', true), '');
    r       record;
    o       record;
    detail  text := '';
    lines   text[];
    line    text;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_OP = 'UPDATE' THEN o := OLD; ELSE o := r; END IF;
    IF length(so_far) > 6000 THEN
        line := concat_ws('|', r.tenant_id::text, domain, '*', '', '');
        IF position(line IN so_far) = 0 THEN
            PERFORM set_config('bizctx.live', so_far || line || E'\n', true);
        END IF;
        RETURN NULL;
    END IF;
    CASE TG_TABLE_NAME
    WHEN 'clients' THEN
        IF TG_OP = 'UPDATE' THEN
            detail := concat_ws(',',
                CASE WHEN NEW.email IS DISTINCT FROM OLD.email THEN 'email' END,
                CASE WHEN NEW.phone IS DISTINCT FROM OLD.phone THEN 'phone' END,
                CASE WHEN NEW.mobile_phone IS DISTINCT FROM OLD.mobile_phone THEN 'mobile_phone' END,
                CASE WHEN NEW.date_of_birth IS DISTINCT FROM OLD.date_of_birth THEN 'date_of_birth' END,
                CASE WHEN NEW.notes IS DISTINCT FROM OLD.notes THEN 'notes' END,
                -- Bookkeeping columns change with every write: they say nothing on their own.
                CASE WHEN to_jsonb(NEW) - ARRAY['email', 'phone', 'mobile_phone', 'date_of_birth', 'notes',
                                                'updated_at', 'idempotency_key']
                          IS DISTINCT FROM
                          to_jsonb(OLD) - ARRAY['email', 'phone', 'mobile_phone', 'date_of_birth', 'notes',
                                                'updated_at', 'idempotency_key']
                     THEN 'profile' END);
            IF detail = '' THEN
                RETURN NULL;
            END IF;
        ELSE
            detail := '*';
        END IF;
        lines := ARRAY[bizctx_live_line(r.tenant_id, domain, r.id, r.id, detail)];
    WHEN 'appointments' THEN
        detail := CASE WHEN TG_OP = 'INSERT' THEN '' ELSE extract(epoch FROM o.starts_at)::bigint::text END
               || ',' || CASE WHEN TG_OP = 'DELETE' THEN '' ELSE extract(epoch FROM r.starts_at)::bigint::text END;
        lines := ARRAY[bizctx_live_line(r.tenant_id, domain, r.id, r.client_id, detail),
                       bizctx_live_line(o.tenant_id, domain, o.id, o.client_id, detail)];
    WHEN 'service_deliveries', 'appointment_feedback' THEN
        lines := ARRAY[bizctx_live_line(r.tenant_id, domain, r.appointment_id,
                                        (SELECT a.client_id FROM appointments a
                                          WHERE a.tenant_id = r.tenant_id AND a.id = r.appointment_id), '')];
    WHEN 'tasks' THEN
        IF TG_OP = 'UPDATE' AND NEW.assignee_agent_id IS DISTINCT FROM OLD.assignee_agent_id THEN
            detail := coalesce(OLD.assignee_agent_id::text, '');
        END IF;
        lines := ARRAY[bizctx_live_line(r.tenant_id, domain, r.id, r.client_id, detail),
                       bizctx_live_line(o.tenant_id, domain, o.id, o.client_id, detail)];
    WHEN 'mem_docs' THEN
        IF TG_OP = 'DELETE' THEN
            detail := 'gone:' || coalesce(OLD.owner_agent_id::text, '') || ':' || OLD.visibility;
        END IF;
        lines := ARRAY[bizctx_live_line(r.tenant_id, domain, r.id, r.client_id, detail),
                       bizctx_live_line(o.tenant_id, domain, o.id, o.client_id, detail)];
    WHEN 'client_addresses' THEN
        lines := ARRAY[bizctx_live_line(r.tenant_id, domain, NULL, r.client_id, 'address'),
                       bizctx_live_line(o.tenant_id, domain, NULL, o.client_id, 'address')];
    ELSE  -- a table of a client's own rows (preferences, interactions, opt-outs, segments, invoices)
        lines := ARRAY[bizctx_live_line(r.tenant_id, domain, NULL, r.client_id, ''),
                       bizctx_live_line(o.tenant_id, domain, NULL, o.client_id, '')];
    END CASE;
    FOREACH line IN ARRAY lines LOOP
        IF position(line IN so_far) = 0 THEN
            so_far := so_far || line || E'\n';
        END IF;
    END LOOP;
    PERFORM set_config('bizctx.live', so_far, true);
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
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON opt_outs
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('clients');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON client_segment_memberships
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('clients');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON appointments
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('appointments');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON service_deliveries
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('appointments');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON appointment_feedback
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('appointments');
-- A payment changes its invoice's amount_paid and status: the invoice's trigger tells.
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('invoices');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('tasks');
CREATE TRIGGER live_note AFTER INSERT OR UPDATE OR DELETE ON mem_docs
    FOR EACH ROW EXECUTE FUNCTION bizctx_live_note('mem_docs');

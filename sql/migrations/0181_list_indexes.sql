-- Indexes so the lists and the aging cost what they return, not what the business has kept
-- (issue 19; measured with bench/growth_bench.py at 100,000 and 1,000,000 rows per table, the
-- figures in the README's "Growth" section).

-- list_invoices with overdue_only: newest issue date first, among the owed invoices only. On
-- invoices_issue_date_idx the scan walked every invoice issued since the oldest overdue one on
-- its page (the newest invoices are not due yet, and most are paid), so a page cost thousands
-- of rows at 100,000 invoices and grew with the table. Here it walks only the open and partly
-- paid ones (the planner proves the predicate from bizctx_is_overdue, inlined).
CREATE INDEX invoices_owed_issue_date_idx ON invoices (tenant_id, issue_date DESC, id)
    WHERE status IN ('open', 'partial');

-- receivables_aging, overdue_invoices and overdue_totals read the owed invoices of a tenant:
-- the same partial index as before, now holding what the aging sums, so it is answered from
-- the index alone (an index-only scan: no heap page per owed invoice). Its cost is
-- proportional to the tenant's owed invoices, never to its paid, void or draft ones.
DROP INDEX invoices_receivable_idx;
CREATE INDEX invoices_receivable_idx ON invoices (tenant_id, due_date)
    INCLUDE (currency, balance_due, client_id, id)
    WHERE status IN ('open', 'partial');

-- list_tasks filtered by status, newest first: with id in the key the page is read in order
-- and stops at its limit; without it every task of that status was fetched and sorted
-- (2,000 pending tasks per page at 100,000 tasks). Replaces tasks_status_idx, whose every
-- other use it serves as well.
CREATE INDEX tasks_status_created_idx ON tasks (tenant_id, status, created_at DESC, id DESC);
DROP INDEX tasks_status_idx;

-- Tasks, second part: the idempotency key of a claim, and the index of list_tasks.
--
-- claim_next_task writes nothing else an agent could look its claim up by, so a retried
-- claim (its answer lost on the way) would claim a second task and leave the first to sit
-- out its lease. With the key, the retry finds the task this agent claimed with it, still
-- under lease, and returns it (looked up through tasks_claimed_by_idx).
ALTER TABLE tasks ADD COLUMN claim_key text CHECK (length(claim_key) BETWEEN 1 AND 200);

-- list_tasks pages newest first over every status: (created_at, id) < cursor.
CREATE INDEX tasks_created_idx ON tasks (tenant_id, created_at DESC, id DESC);

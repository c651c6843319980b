-- Fair use: an agent's own calls per minute (NULL: the server's default), so an operator
-- can give a busy orchestrator more and a flaky script less. Counted by each server in
-- memory (server/fairuse.py): a limit that costs no statement per call.
ALTER TABLE agents ADD COLUMN calls_per_minute integer CHECK (calls_per_minute BETWEEN 1 AND 100000);

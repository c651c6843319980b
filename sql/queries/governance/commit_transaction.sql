-- Commits the transaction (sent in one round trip with the audit insert).
COMMIT

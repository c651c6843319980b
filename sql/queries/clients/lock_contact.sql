-- Locks the live client's row until the transaction ends, so outbound contacts of one client
-- are checked and recorded one at a time; false when there is no such live client.
SELECT bizctx_lock_contact(%(client_id)s)

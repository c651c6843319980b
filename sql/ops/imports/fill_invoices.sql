-- For staged invoices that update an existing one: columns the file does not have take the
-- invoice's current values (status is worked out later; items and payments stay as they
-- are when absent). Index: invoices primary key (tenant_id, id).
UPDATE bizctx_import.invoices s
SET external_ref = CASE WHEN 'external_ref' = ANY(%(columns)s::text[]) THEN s.external_ref ELSE i.external_ref END,
    invoice_number = CASE WHEN 'invoice_number' = ANY(%(columns)s::text[]) THEN s.invoice_number
                          ELSE i.invoice_number END,
    client_id = CASE WHEN 'client_ref' = ANY(%(columns)s::text[]) THEN s.client_id ELSE i.client_id END,
    issue_date = CASE WHEN 'issue_date' = ANY(%(columns)s::text[]) THEN s.issue_date
                      ELSE to_char(i.issue_date, 'YYYY-MM-DD') END,
    due_date = CASE WHEN 'due_date' = ANY(%(columns)s::text[]) THEN s.due_date ELSE to_char(i.due_date, 'YYYY-MM-DD') END,
    currency = CASE WHEN 'currency' = ANY(%(columns)s::text[]) THEN s.currency ELSE i.currency END,
    notes = CASE WHEN 'notes' = ANY(%(columns)s::text[]) THEN s.notes ELSE i.notes END,
    void_reason = CASE WHEN 'void_reason' = ANY(%(columns)s::text[]) THEN s.void_reason ELSE i.void_reason END
FROM invoices i
WHERE i.tenant_id = %(tenant_id)s AND i.id = s.target_id

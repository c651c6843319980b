-- Fresh statistics for the tables an import just filled. Index: none.
ANALYZE invoices, invoice_items, payments

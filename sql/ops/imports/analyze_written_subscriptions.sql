-- Fresh statistics for the tables an import just filled. Index: none.
ANALYZE subscriptions, subscription_items

ALTER TABLE deliveries DROP COLUMN deferred_since;

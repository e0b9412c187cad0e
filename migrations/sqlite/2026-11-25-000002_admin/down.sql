DROP INDEX deliveries_failed;
ALTER TABLE events DROP COLUMN cluster;
ALTER TABLE events DROP COLUMN application;
DROP TABLE subscriber_settings;

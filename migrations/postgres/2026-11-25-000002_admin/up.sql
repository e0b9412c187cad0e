-- Switches an admin set at runtime; they outlive restarts.
-- DISABLED_SUBSCRIBERS only decides for subscribers without a row here.
CREATE TABLE subscriber_settings (
    subscriber TEXT PRIMARY KEY,
    enabled SMALLINT NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
);

-- What the admin event list filters on (deployments only).
ALTER TABLE events ADD COLUMN application TEXT;
ALTER TABLE events ADD COLUMN cluster TEXT;

-- The dead letters, newest first.
CREATE INDEX deliveries_failed ON deliveries (updated_at, id) WHERE state = 5;

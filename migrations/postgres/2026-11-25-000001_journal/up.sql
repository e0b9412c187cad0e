-- The journal: every accepted event, and each subscriber's delivery of it.
-- Times are Unix milliseconds; states are small integers (see
-- src/store/models/deliveries.rs), so both backends share one schema.

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    -- Subscribers that were disabled or unconfigured at intake, with why.
    skipped TEXT NOT NULL,
    idempotency_key TEXT,
    body_hash TEXT
);
CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    subscriber TEXT NOT NULL,
    state SMALLINT NOT NULL,
    attempts INTEGER NOT NULL,
    lease_epoch BIGINT NOT NULL,
    lease_owner TEXT,
    due_at BIGINT NOT NULL,
    progress TEXT NOT NULL,
    outcome TEXT,
    last_error TEXT,
    updated_at BIGINT NOT NULL,
    UNIQUE (event_id, subscriber)
);
-- Only unfinished rows are looked up by due time.
CREATE INDEX deliveries_due ON deliveries (subscriber, due_at, id)
    WHERE state IN (0, 1, 2);

-- The deployment history that dashboards read; never pruned.
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    application TEXT NOT NULL,
    cluster TEXT NOT NULL,
    version TEXT NOT NULL,
    image TEXT NOT NULL,
    team TEXT NOT NULL,
    importance TEXT NOT NULL,
    application_url TEXT NOT NULL,
    monitor_url TEXT NOT NULL,
    about_url TEXT NOT NULL,
    friendly_name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX deployments_cluster ON deployments (cluster, application, id);
CREATE INDEX deployments_application ON deployments (application, id);
CREATE INDEX deployments_team ON deployments (team, id);

-- Replicas sharing one database: who is alive, and which replica delivers
-- each subscriber's work (so a destination's pace holds across replicas).
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

CREATE TABLE subscriber_owners (
    subscriber TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

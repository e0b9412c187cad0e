-- Noise control. `once_per`: the first event of each key within its
-- window (later ones with the key are skipped as its duplicates); the key
-- is the rule's name and the event's field values. Shared by replicas: the
-- primary key decides which of two racing events is first.
CREATE TABLE once_per (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX once_per_expires_at ON once_per (expires_at);

-- Silences admins made: matching deliveries between starts_at and ends_at
-- are skipped. Expiring one early sets ends_at; `silenced` counts the
-- deliveries it skipped.
CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expired_by TEXT,
    silenced BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX silences_ends_at ON silences (ends_at);

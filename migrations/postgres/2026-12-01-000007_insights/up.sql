-- Delivery-performance figures (GET /api/v1/insights).
--
-- `failures`: every error event that names its application and cluster,
-- stored by the database subscriber like the deployment history and, like
-- it, never pruned (the journal's `events` rows are pruned after
-- JOURNAL_RETENTION_DAYS, so they cannot hold a long history).
CREATE TABLE failures (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    application TEXT NOT NULL,
    cluster TEXT NOT NULL
);
-- The errors of the scope's applications and clusters since a time.
CREATE INDEX failures_application ON failures (application, cluster, received_at);

-- One team's deployments in a period (the figures' main filter), with
-- the columns the figures read, so the rows themselves are not visited.
CREATE INDEX deployments_team_received
    ON deployments (team, received_at, application, cluster);
-- One team's latest deployment of each application and cluster.
CREATE INDEX deployments_team_application
    ON deployments (team, application, cluster, received_at);
-- Every deployment in a period, for queries without a team.
CREATE INDEX deployments_received ON deployments (received_at);
-- The deployments of the scope's applications and clusters since a time
-- (with their team, so the rows themselves are not visited), and each
-- application's latest deployment: one range each.
CREATE INDEX deployments_application_received
    ON deployments (application, cluster, received_at, team);

DROP INDEX deployments_application_received;
DROP INDEX deployments_received;
DROP INDEX deployments_team_application;
DROP INDEX deployments_team_received;
DROP TABLE failures;

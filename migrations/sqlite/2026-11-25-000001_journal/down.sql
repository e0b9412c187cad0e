DROP TABLE deployments;
DROP TABLE deliveries;
DROP TABLE events;

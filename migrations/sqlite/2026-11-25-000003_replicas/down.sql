DROP TABLE subscriber_owners;
DROP TABLE replicas;

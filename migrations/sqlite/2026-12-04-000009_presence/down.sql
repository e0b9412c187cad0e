ALTER TABLE replicas DROP COLUMN presence;

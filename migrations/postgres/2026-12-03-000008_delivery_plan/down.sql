ALTER TABLE deliveries DROP COLUMN destinations;

-- Where each delivery goes, decided once when its event was accepted (a
-- JSON list of destinations: Slack channels, a webhook), so that a retry,
-- a replay and another replica send exactly there. NULL for a delivery
-- planned before this column existed (it is planned when next claimed).
ALTER TABLE deliveries ADD COLUMN destinations TEXT;

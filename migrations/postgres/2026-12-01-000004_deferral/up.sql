-- When a delivery began to be deferred (rate limit, open circuit) without
-- an attempt: past MAX_DEFER_SECONDS it becomes a dead letter. NULL when
-- it is not being deferred.
ALTER TABLE deliveries ADD COLUMN deferred_since BIGINT;

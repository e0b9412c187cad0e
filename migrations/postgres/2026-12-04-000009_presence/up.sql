-- The advisory lock a replica's PostgreSQL session holds while it lives
-- (NULL: none, on SQLite or while its session is being re-opened). When the
-- session ends — the process died — the lock is gone and the others take
-- its subscribers at once instead of waiting for its lease to run out.
ALTER TABLE replicas ADD COLUMN presence BIGINT;

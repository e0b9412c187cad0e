//! Keeps the SQLite write-ahead log bounded.
//!
//! A [`Checkpointer`] thread copies the log into the database (SQLite's
//! own checkpoints would run inside the writer's commits), but the log
//! only starts over when no reader is
//! still using it; reads that overlap without a gap (dashboards) keep it
//! growing forever. So the journal writer looks at the log's size between
//! batches, and past [`TRUNCATE_AT`] it closes the read routes' gates (new
//! heavy reads are refused for a moment), waits — between batches, writes
//! go on — until the reads that were running end (each within
//! `READ_TIMEOUT_MS`), and truncates the log with `wal_checkpoint(TRUNCATE)`,
//! which never waits for a short read still using it (it is tried again). A restart starts from an empty log too
//! (see [`truncate`]), and `journal_size_limit` cuts a log that did start
//! over back to a few megabytes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::Integer;
use diesel::{QueryableByName, RunQueryDsl};

use super::AnyConnection;
use super::reads::{ClosedGate, ReadRoutes};

/// Past this the writer truncates the log.
pub const TRUNCATE_AT: u64 = 16 << 20;
/// What a log that starts over is cut back to (`PRAGMA journal_size_limit`).
pub const SIZE_LIMIT: u64 = 4 << 20;
/// How often the log's size is looked at (a `stat`).
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long a truncation waits for short reads (history lookups, point
/// lookups) still using the log: not at all, since the writer would wait
/// with it (and every delivery behind the writer); one that finds a read
/// is tried again at the next check, and passive checkpoints (the
/// checkpointer's) go on meanwhile.
const CHECKPOINT_WAIT_MS: u32 = 0;
/// Attempts in a row that found readers before a warning is logged.
const WARN_AFTER_ATTEMPTS: u32 = 40;

/// `PRAGMA wal_checkpoint`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Checkpoint {
    /// 1 when readers kept it from completing.
    #[diesel(sql_type = Integer)]
    pub busy: i32,
    /// Frames in the log (before a truncation).
    #[diesel(sql_type = Integer)]
    pub log: i32,
    /// Frames copied into the database.
    #[diesel(sql_type = Integer)]
    pub checkpointed: i32,
}

/// The `-wal` file beside a SQLite database.
pub fn wal_path(database: &Path) -> PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push("-wal");
    PathBuf::from(path)
}

/// The log's size now (0 when there is none).
pub fn wal_size(database: &Path) -> u64 {
    std::fs::metadata(wal_path(database)).map_or(0, |m| m.len())
}

/// Copies the whole log into the database and truncates it to zero bytes,
/// waiting at most `wait_ms` for readers; then restores the connection's
/// usual busy timeout. SQLite only.
pub fn truncate(connection: &mut AnyConnection, wait_ms: u32) -> diesel::QueryResult<Checkpoint> {
    connection.batch_execute(&format!("PRAGMA busy_timeout = {wait_ms}"))?;
    let result = checkpoint(connection, "TRUNCATE");
    connection.batch_execute(&format!("PRAGMA busy_timeout = {}", super::BUSY_TIMEOUT_MS))?;
    result
}

/// The journal writer's part: watch the log, truncate it when it grows.
pub struct WalKeeper {
    database: PathBuf,
    reads: Option<ReadRoutes>,
    closed: Option<[ClosedGate; 2]>,
    last_check: Instant,
    attempts: u32,
    /// Set while a [`Checkpointer`] copies the log for the writer.
    checkpointer: Option<Checkpointer>,
}

/// How often the checkpointer copies what the log holds into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A thread of its own that copies the log into the database (a passive
/// checkpoint, on its own connection), so the journal writer never does:
/// SQLite's automatic checkpoint runs inside the commit that passes 1,000
/// pages, and its two fsyncs held up every request waiting on that commit
/// (the low-load p99). A passive checkpoint takes no write lock; once it
/// has copied everything, the writer's next commit starts the log over.
/// Stops when dropped (with the writer).
pub struct Checkpointer {
    _stop: std::sync::mpsc::SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread, checkpointing through connections of `pool`.
    pub fn start(pool: super::DbPool) -> std::io::Result<Self> {
        let (stop, stopped) = std::sync::mpsc::sync_channel::<()>(0);
        std::thread::Builder::new()
            .name("wal-checkpointer".into())
            .spawn(move || {
                let mut failures = 0u32;
                // Disconnected (the keeper dropped) ends it.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    let copied =
                        pool.get()
                            .map_err(|error| error.to_string())
                            .and_then(|mut connection| {
                                passive(&mut connection).map_err(|error| error.to_string())
                            });
                    match copied {
                        Ok(_) => failures = 0,
                        Err(error) => {
                            failures += 1;
                            if failures.is_multiple_of(WARN_AFTER_ATTEMPTS) {
                                log::warn!(
                                    "storage: the write-ahead log could not be checkpointed \
                                     {failures} times in a row ({error})"
                                );
                            }
                        }
                    }
                }
            })?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// Copies what it can of the log into the database without waiting for
/// anyone (SQLite only; nothing to copy costs no fsync).
pub fn passive(connection: &mut AnyConnection) -> diesel::QueryResult<Checkpoint> {
    checkpoint(connection, "PASSIVE")
}

/// `PRAGMA wal_checkpoint(<mode>)`; PostgreSQL has no log to copy.
fn checkpoint(connection: &mut AnyConnection, mode: &str) -> diesel::QueryResult<Checkpoint> {
    match connection {
        AnyConnection::Sqlite(sqlite) => {
            diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")).get_result(sqlite)
        }
        AnyConnection::Postgresql(_) => Ok(Checkpoint {
            busy: 0,
            log: 0,
            checkpointed: 0,
        }),
    }
}

impl WalKeeper {
    /// For the SQLite database at `database`, closing `reads`' gates while
    /// it truncates (none: nothing to wait for).
    pub fn new(database: PathBuf, reads: Option<ReadRoutes>) -> Self {
        WalKeeper {
            database,
            reads,
            closed: None,
            last_check: Instant::now(),
            attempts: 0,
            checkpointer: None,
        }
    }

    /// Leaves checkpoints to a [`Checkpointer`] using `pool`.
    pub fn with_checkpointer(mut self, pool: super::DbPool) -> std::io::Result<Self> {
        self.checkpointer = Some(Checkpointer::start(pool)?);
        Ok(self)
    }

    /// Readies the writer's connection: with a checkpointer, SQLite's own
    /// checkpoints are off on it (they would run inside its commits).
    pub fn prepare(&self, connection: &mut AnyConnection) -> diesel::QueryResult<()> {
        if self.checkpointer.is_some() {
            connection.batch_execute("PRAGMA wal_autocheckpoint = 0")?;
        }
        Ok(())
    }

    /// Called between batches: cheap unless the log is past [`TRUNCATE_AT`].
    pub fn tick(&mut self, connection: &mut AnyConnection) {
        if self.last_check.elapsed() < CHECK_EVERY {
            return;
        }
        self.last_check = Instant::now();
        self.check(connection);
    }

    /// Looks at the log now: past [`TRUNCATE_AT`] closes the gates, and
    /// once the reads running then have ended, truncates it.
    pub fn check(&mut self, connection: &mut AnyConnection) {
        if self.closed.is_none() {
            if wal_size(&self.database) <= TRUNCATE_AT {
                return;
            }
            self.closed = self.reads.as_ref().map(ReadRoutes::close);
        }
        let drained = self
            .closed
            .as_ref()
            .is_none_or(|gates| gates.iter().all(ClosedGate::drained));
        if !drained {
            return;
        }
        let size = wal_size(&self.database);
        match truncate(connection, CHECKPOINT_WAIT_MS) {
            Ok(checkpoint) if checkpoint.busy == 0 => {
                log::debug!(
                    "storage: the write-ahead log ({} MiB) was truncated",
                    size >> 20
                );
                self.closed = None;
                self.attempts = 0;
            }
            Ok(_) => self.not_yet("short reads still use it"),
            Err(error) => self.not_yet(&error.to_string()),
        }
    }

    fn not_yet(&mut self, why: &str) {
        self.attempts += 1;
        if self.attempts.is_multiple_of(WARN_AFTER_ATTEMPTS) {
            log::warn!(
                "storage: the write-ahead log ({} MiB) could not be truncated in {} attempts ({why}); \
                 heavy reads wait meanwhile",
                wal_size(&self.database) >> 20,
                self.attempts
            );
        }
    }

    /// Whether the read gates are closed for a truncation now.
    pub fn truncating(&self) -> bool {
        self.closed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::store::Store;
    use crate::store::reads::Refused;

    #[test]
    fn a_log_kept_by_a_running_read_is_truncated_once_that_read_ends() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("alvares.db");
        let settings = Settings::from_map([
            ("DB_URL", path.display().to_string()),
            ("READ_CONCURRENCY", "2".to_owned()),
        ])
        .unwrap();
        let store = Store::open(&settings.store).unwrap();
        let mut writer = store.writer.get().unwrap();
        writer
            .batch_execute("CREATE TABLE filler (text TEXT); INSERT INTO filler VALUES ('a');")
            .unwrap();
        // A dashboard's read: its permit, and a read transaction that keeps
        // the log in use, so SQLite's own checkpoints cannot start it over.
        let permit = store.reads.heavy.try_enter(1).unwrap();
        let mut reader = store.reads.pool.get().unwrap();
        reader
            .batch_execute("BEGIN; SELECT count(*) FROM filler;")
            .unwrap();
        for _ in 0..40 {
            writer
                .batch_execute("INSERT INTO filler VALUES (hex(randomblob(262144)))")
                .unwrap();
        }
        assert!(wal_size(&path) > TRUNCATE_AT, "{}", wal_size(&path));

        let mut keeper = WalKeeper::new(path.clone(), Some(store.reads.clone()));
        keeper.check(&mut writer);
        // New heavy reads wait; the running one goes on, and so do writes.
        assert!(keeper.truncating());
        assert_eq!(store.reads.heavy.try_enter(1).unwrap_err(), Refused::Closed);
        assert_eq!(
            store.reads.metrics.try_enter(1).unwrap_err(),
            Refused::Closed
        );
        writer
            .batch_execute("INSERT INTO filler VALUES ('during')")
            .unwrap();
        keeper.check(&mut writer);
        assert!(keeper.truncating());
        assert!(wal_size(&path) > TRUNCATE_AT);

        reader.batch_execute("COMMIT").unwrap();
        drop(permit);
        keeper.check(&mut writer);
        assert!(!keeper.truncating());
        assert_eq!(wal_size(&path), 0);
        assert!(store.reads.heavy.try_enter(2).is_ok());
        // Below the limit nothing is done.
        writer
            .batch_execute("INSERT INTO filler VALUES ('after')")
            .unwrap();
        keeper.check(&mut writer);
        assert!(!keeper.truncating());
        assert!(wal_size(&path) > 0);
    }

    #[test]
    fn with_a_checkpointer_the_writer_never_checkpoints_and_the_thread_copies_the_log() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("alvares.db");
        let settings = Settings::from_map([("DB_URL", path.display().to_string())]).unwrap();
        let store = Store::open(&settings.store).unwrap();
        let keeper = WalKeeper::new(path.clone(), None);
        let mut writer = store.writer.get().unwrap();
        // Without a checkpointer the writer keeps SQLite's own checkpoints.
        keeper.prepare(&mut writer).unwrap();
        assert_eq!(autocheckpoint(&mut writer), 1000);

        let keeper = keeper.with_checkpointer(store.pool.clone()).unwrap();
        keeper.prepare(&mut writer).unwrap();
        assert_eq!(autocheckpoint(&mut writer), 0);
        // Far past 1,000 pages: nothing reaches the database file from
        // the writer's commits (it only grows when a checkpoint copies).
        drop(keeper);
        writer
            .batch_execute("CREATE TABLE filler (text TEXT)")
            .unwrap();
        for _ in 0..20 {
            writer
                .batch_execute("INSERT INTO filler VALUES (hex(randomblob(131072)))")
                .unwrap();
        }
        let written = 20 * 262_144;
        assert!(wal_size(&path) > written);
        let database_size = || std::fs::metadata(&path).unwrap().len();
        assert!(database_size() < written / 4, "{}", database_size());

        // The thread copies it, on a connection of its own.
        let _keeper = WalKeeper::new(path.clone(), None)
            .with_checkpointer(store.pool.clone())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while database_size() < written && Instant::now() < deadline {
            // Waits for what must happen; bounded by the deadline.
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(database_size() >= written, "{}", database_size());
    }

    fn autocheckpoint(connection: &mut AnyConnection) -> i32 {
        #[derive(QueryableByName)]
        struct Pages {
            #[diesel(sql_type = Integer)]
            wal_autocheckpoint: i32,
        }
        match connection {
            AnyConnection::Sqlite(sqlite) => {
                diesel::sql_query("PRAGMA wal_autocheckpoint")
                    .get_result::<Pages>(sqlite)
                    .unwrap()
                    .wal_autocheckpoint
            }
            AnyConnection::Postgresql(_) => unreachable!("a SQLite test"),
        }
    }
}

//! Storage through diesel + r2d2, one code path for two backends: embedded
//! SQLite by default (`DB_URL` unset or a file path) and PostgreSQL
//! (`DB_URL=postgres://…`, password from `DB_PASSWORD`).
//!
//! Queries are written once with diesel's DSL and compiled for each backend
//! through [`with_connection!`]; only the few statements whose SQL differs
//! (claiming with `SKIP LOCKED`) are spelled out per backend.

pub mod history;
pub mod insights;
pub mod journal;
pub mod models;
pub mod read_threads;
pub mod reads;
pub mod schema;
pub mod status;
pub mod wal;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::StoreConfig;
use reads::{ReadBudget, ReadGate, ReadRoutes};

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The default database: a file beside the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "./alvares.db";
/// How long a SQLite statement waits for a lock.
pub const BUSY_TIMEOUT_MS: u32 = 10_000;
/// How long taking a pooled connection may wait.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// `/metrics` gauge reads at once (two Prometheus servers scraping).
const METRICS_READS: usize = 2;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs `$body` with `$conn` bound to the concrete backend connection, so
/// one piece of diesel code serves both backends.
#[macro_export]
macro_rules! with_connection {
    ($any:expr, |$conn:ident| $body:expr) => {
        match $any {
            $crate::store::AnyConnection::Postgresql($conn) => $body,
            $crate::store::AnyConnection::Sqlite($conn) => $body,
        }
    };
}

pub type DbPool = Pool<ConnectionManager<AnyConnection>>;
pub type DbConnection = PooledConnection<ConnectionManager<AnyConnection>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the database: {0}")]
    Open(String),
    #[error("could not migrate the database: {0}")]
    Migrate(String),
    #[error(
        "another Alvares is already using the SQLite database {0}; SQLite is single-node \
         (use DB_URL=postgres://… to run several replicas)"
    )]
    SqliteInUse(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
}

/// Where the data lives, resolved from `DB_URL` and `DB_PASSWORD`.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub backend: Backend,
    url: String,
    /// For log lines: the URL without its password.
    pub display: String,
}

impl DatabaseUrl {
    pub fn from_config(config: &StoreConfig) -> Result<Self, StoreError> {
        let raw = config
            .url
            .as_ref()
            .map(|u| u.expose().clone())
            .unwrap_or_else(|| DEFAULT_SQLITE_PATH.to_owned());
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let mut url = url::Url::parse(&raw)
                .map_err(|_| StoreError::Open("DB_URL is not a valid postgres:// URL".into()))?;
            if let Some(password) = &config.password {
                url.set_password(Some(password.expose()))
                    .map_err(|_| StoreError::Open("DB_URL cannot take a password".into()))?;
            }
            let mut display = url.clone();
            if display.password().is_some() {
                let _ = display.set_password(Some("****"));
            }
            Ok(DatabaseUrl {
                backend: Backend::Postgres,
                url: url.to_string(),
                display: display.to_string(),
            })
        } else {
            let path = raw.strip_prefix("sqlite://").unwrap_or(&raw).to_owned();
            Ok(DatabaseUrl {
                backend: Backend::Sqlite,
                display: format!("SQLite file {path}"),
                url: path,
            })
        }
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        (self.backend == Backend::Sqlite).then(|| PathBuf::from(&self.url))
    }

    /// What the pool connects with. On SQLite an opening URI with
    /// `mode=rw`: a pooled connection never creates the file, so a file
    /// deleted under the running service stays missing (and is reported as
    /// deleted) instead of coming back empty.
    fn connection_url(&self) -> Result<String, StoreError> {
        let Some(path) = self.sqlite_path() else {
            return Ok(self.url.clone());
        };
        let absolute = std::path::absolute(&path)
            .map_err(|error| StoreError::Open(format!("{}: {error}", self.display)))?;
        let uri = url::Url::from_file_path(&absolute)
            .map_err(|()| StoreError::Open(format!("{}: not a usable path", self.display)))?;
        Ok(format!("{uri}?mode=rw"))
    }
}

/// The open database, migrated, and on SQLite locked to this process.
///
/// Each kind of work has a connection budget of its own, so none can take
/// another's connections: the journal writer its one connection, the
/// deliveries' own reads (history lookups, the digest) theirs, the read
/// routes theirs behind a gate ([`ReadRoutes`]), and everything else
/// (admin routes, point lookups, health) the general pool.
pub struct Store {
    /// Admin routes, point lookups, readiness (`DB_POOL_SIZE`).
    pub pool: DbPool,
    /// The journal writer's one connection.
    pub writer: DbPool,
    /// The deliveries' own reads (`DB_DELIVERY_POOL_SIZE`), read-only.
    pub deliveries: DbPool,
    /// Insights, listings and the metrics' gauges (`READ_CONCURRENCY`),
    /// read-only.
    pub reads: ReadRoutes,
    pub backend: Backend,
    /// The SQLite database file (none on PostgreSQL), watched by the
    /// journal writer.
    pub sqlite_file: Option<PathBuf>,
    /// PostgreSQL: where the replica's own session (presence and wake-ups,
    /// `pipeline::presence`) connects, password included.
    pub postgres_url: Option<crate::config::Secret<String>>,
    // Held for the life of the process: a second Alvares on the same SQLite
    // file is refused.
    _sqlite_lock: Option<File>,
}

/// What a pool's connections are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// May write (the journal writer; the general pool, which the seeding
    /// tool writes through).
    Writes,
    /// Reads only: the database refuses a write on them.
    ReadsOnly,
}

/// Page cache of a connection that writes (SQLite's default is 2 MiB): the
/// history's index pages a batch touches stay in memory instead of being
/// read back from the file for each commit.
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// Settings every pooled connection gets. A writing connection keeps its
/// statement journals (a batch's savepoints) in memory, not in a file
/// written for each statement.
#[derive(Debug, Clone, Copy)]
struct ConnectionSettings {
    synchronous_full: bool,
    role: Role,
}

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for ConnectionSettings {
    fn on_acquire(&self, connection: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(sqlite) = connection {
            reads::register_in_time(sqlite).map_err(diesel::r2d2::Error::QueryError)?;
        }
        let settings = match (connection, self.role) {
            (AnyConnection::Sqlite(sqlite), Role::Writes) => {
                let synchronous = if self.synchronous_full {
                    "FULL"
                } else {
                    "NORMAL"
                };
                sqlite.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                     PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; \
                     PRAGMA journal_size_limit = {}; \
                     PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{WRITER_CACHE_KIB};",
                    wal::SIZE_LIMIT
                ))
            }
            (AnyConnection::Sqlite(sqlite), Role::ReadsOnly) => sqlite.batch_execute(&format!(
                "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA query_only = 1;"
            )),
            (AnyConnection::Postgresql(pg), Role::ReadsOnly) => {
                pg.batch_execute("SET default_transaction_read_only = on")
            }
            (AnyConnection::Postgresql(_), Role::Writes) => Ok(()),
        };
        settings.map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Store {
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let url = DatabaseUrl::from_config(config)?;
        let lock = match url.sqlite_path() {
            Some(path) => {
                let lock = lock_sqlite(&path)?;
                create_sqlite_file(&path)?;
                Some(lock)
            }
            None => None,
        };
        let opening = url.connection_url()?;
        let pool = |size: u32, role: Role| {
            Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(CONNECTION_TIMEOUT)
                .connection_customizer(Box::new(ConnectionSettings {
                    synchronous_full: config.sqlite_synchronous.full,
                    role,
                }))
                .build(ConnectionManager::<AnyConnection>::new(opening.clone()))
                .map_err(|error| StoreError::Open(describe_open_error(&error.to_string(), &url)))
        };
        // The writer's first: its connection puts a new SQLite file in WAL
        // mode before any read-only one opens it.
        let writer = pool(1, Role::Writes)?;
        let general = pool(config.pool_size, Role::Writes)?;
        let deliveries = pool(config.delivery_pool_size, Role::ReadsOnly)?;
        let reads = ReadRoutes {
            pool: pool(
                (config.read_concurrency + METRICS_READS) as u32,
                Role::ReadsOnly,
            )?,
            heavy: ReadGate::new(config.read_concurrency),
            metrics: ReadGate::new(METRICS_READS),
            // A thread per connection a heavy read may hold.
            threads: read_threads::ReadThreads::start(config.read_concurrency),
            timeout: Duration::from_millis(config.read_timeout_ms),
            budget: ReadBudget::new(config.heavy_reads_per_second),
            // The application sets its own (tests move a manual one).
            clock: crate::clock::SystemClock::shared(),
        };
        let store = Store {
            pool: general,
            writer,
            deliveries,
            reads,
            backend: url.backend,
            sqlite_file: url.sqlite_path(),
            postgres_url: (url.backend == Backend::Postgres)
                .then(|| crate::config::Secret::new(url.url.clone())),
            _sqlite_lock: lock,
        };
        store.migrate()?;
        store.truncate_wal()?;
        log::info!("storage: {}", url.display);
        Ok(store)
    }

    /// On SQLite, starts from an empty write-ahead log: a log left large
    /// by the last run (killed, or grown under readers) is copied into the
    /// database and cut to zero bytes before anyone reads.
    fn truncate_wal(&self) -> Result<(), StoreError> {
        let Some(path) = &self.sqlite_file else {
            return Ok(());
        };
        let before = wal::wal_size(path);
        let mut connection = self.writer.get()?;
        let checkpoint = wal::truncate(&mut connection, BUSY_TIMEOUT_MS)?;
        if checkpoint.busy != 0 {
            log::warn!("storage: the write-ahead log could not be truncated at start-up");
        } else if before > wal::SIZE_LIMIT {
            log::info!(
                "storage: the write-ahead log left by the last run ({} MiB) was truncated",
                before >> 20
            );
        }
        Ok(())
    }

    /// Runs the embedded migrations for this backend. On PostgreSQL an
    /// advisory lock keeps replicas starting together from racing.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.writer.get()?;
        let result = match &mut *connection {
            AnyConnection::Postgresql(pg) => {
                pg.batch_execute("SELECT pg_advisory_lock(727174)")?;
                let result = pg.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
                pg.batch_execute("SELECT pg_advisory_unlock(727174)")?;
                result
            }
            AnyConnection::Sqlite(sqlite) => {
                sqlite.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ())
            }
        };
        result.map_err(|error| StoreError::Migrate(error.to_string()))
    }

    /// The on/off switches admins set, by subscriber id.
    pub fn subscriber_switches(
        &self,
    ) -> Result<std::collections::HashMap<String, bool>, StoreError> {
        let mut connection = self.pool.get()?;
        Ok(models::subscriber_settings::all(&mut connection)?
            .into_iter()
            .map(|setting| (setting.subscriber, setting.enabled != 0))
            .collect())
    }
}

/// Opening errors can quote the URL; keep only what does not.
fn describe_open_error(message: &str, url: &DatabaseUrl) -> String {
    let message = message.replace(&url.url, &url.display);
    format!("{} ({message})", url.display)
}

/// Creates the SQLite file when it is missing (an empty file is an empty
/// database); the pool's connections only ever open it.
fn create_sqlite_file(path: &Path) -> Result<(), StoreError> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|error| StoreError::Open(format!("cannot create {}: {error}", path.display())))
}

fn lock_sqlite(path: &Path) -> Result<File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| {
            StoreError::Open(format!(
                "cannot create {}: {error}",
                PathBuf::from(&lock_path).display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::SqliteInUse(path.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(error)) => Err(StoreError::Open(format!(
            "cannot lock {}: {error}",
            PathBuf::from(&lock_path).display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn sqlite_url(path: &Path) -> DatabaseUrl {
        let settings = Settings::from_map([("DB_URL", path.display().to_string())]).unwrap();
        DatabaseUrl::from_config(&settings.store).unwrap()
    }

    /// `DB_URL` may hold the PostgreSQL password: none of the places that
    /// show the URL or quote it show the password.
    #[test]
    fn a_database_urls_password_is_redacted_everywhere_it_is_shown() {
        let password = "pw-in-the-url-4711";
        let raw = format!("postgres://alvares:{password}@db.example:5432/alvares");
        let settings = Settings::from_map([("DB_URL", raw.clone())]).unwrap();
        let url = DatabaseUrl::from_config(&settings.store).unwrap();
        // The start-up log line and every opening error.
        assert_eq!(
            url.display,
            "postgres://alvares:****@db.example:5432/alvares"
        );
        let quoted = format!("could not connect to {}: timed out", url.url);
        assert_eq!(
            describe_open_error(&quoted, &url),
            "postgres://alvares:****@db.example:5432/alvares (could not connect to \
             postgres://alvares:****@db.example:5432/alvares: timed out)"
        );
        // The settings' debug form.
        assert!(!format!("{settings:?}").contains(password));
        // Whatever a delivery's error quotes.
        assert_eq!(
            settings
                .redactor
                .redact(&format!("{raw}: password {password} refused")),
            "[redacted]: password [redacted] refused"
        );
        // Given apart in DB_PASSWORD, it is shown nowhere either.
        let settings = Settings::from_map([
            ("DB_URL", "postgres://alvares@db.example/alvares"),
            ("DB_PASSWORD", password),
        ])
        .unwrap();
        let url = DatabaseUrl::from_config(&settings.store).unwrap();
        assert_eq!(url.display, "postgres://alvares:****@db.example/alvares");
        assert_eq!(settings.redactor.redact(password), "[redacted]");
    }

    #[test]
    fn a_pooled_sqlite_connection_never_creates_the_file() {
        let folder = tempfile::tempdir().unwrap();
        // A path that needs escaping in a URI.
        let path = folder.path().join("with space #1?.db");
        let url = sqlite_url(&path);
        let opening = url.connection_url().unwrap();
        assert!(opening.starts_with("file:///") && opening.ends_with("?mode=rw"));
        assert!(AnyConnection::establish(&opening).is_err());
        assert!(!path.exists());
        create_sqlite_file(&path).unwrap();
        let mut connection = AnyConnection::establish(&opening).unwrap();
        connection
            .batch_execute("CREATE TABLE t (x INTEGER)")
            .unwrap();
        // The table went into that very file.
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
    }
}

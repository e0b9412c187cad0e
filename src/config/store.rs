//! Where the journal and the history live, and how the store is used.

use std::str::FromStr;

use envconfig::Envconfig;

use super::env::{ConfigError, Env, Secret};

#[derive(Envconfig, Debug)]
pub struct StoreConfig {
    /// Unset or a file path: embedded SQLite; `postgres://…`: PostgreSQL.
    #[envconfig(from = "DB_URL")]
    pub url: Option<Secret<String>>,
    /// The PostgreSQL password, kept out of `DB_URL` as the original did.
    #[envconfig(from = "DB_PASSWORD")]
    pub password: Option<Secret<String>>,
    /// Connections for the admin routes, point lookups and health (the
    /// journal writer, the deliveries and the read routes have their own).
    #[envconfig(from = "DB_POOL_SIZE", default = "8")]
    pub pool_size: u32,
    /// Connections for the deliveries' own reads (history lookups).
    #[envconfig(from = "DB_DELIVERY_POOL_SIZE", default = "4")]
    pub delivery_pool_size: u32,
    /// Heavy reads (insights, listings) served at once, each on a
    /// connection of its own; past this they are answered 503. Two: on
    /// two cores, more readers at once took the deliveries' CPU (README,
    /// "Dashboards beside deliveries").
    #[envconfig(from = "READ_CONCURRENCY", default = "2")]
    pub read_concurrency: usize,
    /// How long one heavy read may run before it is stopped (503 naming
    /// the limit), so no read holds a connection or the SQLite log.
    #[envconfig(from = "READ_TIMEOUT_MS", default = "5000")]
    pub read_timeout_ms: u64,
    /// Heavy reads started per second at most; beyond, a 503 with
    /// `Retry-After` (README, "Dashboards beside deliveries").
    #[envconfig(from = "HEAVY_READS_PER_SECOND", default = "50")]
    pub heavy_reads_per_second: usize,
    /// `full` fsyncs every SQLite commit (survives power loss); `normal`
    /// survives a killed process, which is what intake promises.
    #[envconfig(from = "SQLITE_SYNCHRONOUS", default = "normal")]
    pub sqlite_synchronous: SqliteSynchronous,
    /// Delivered journal entries are pruned after this many days.
    #[envconfig(from = "JOURNAL_RETENTION_DAYS", default = "14")]
    pub retention_days: u32,
    /// How long a claimed delivery stays with its process before another
    /// may take it over (also how soon a crashed replica's work resumes).
    #[envconfig(from = "LEASE_SECONDS", default = "30")]
    pub lease_seconds: u64,
}

/// `SQLITE_SYNCHRONOUS`: normal or full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteSynchronous {
    pub full: bool,
}

impl FromStr for SqliteSynchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(SqliteSynchronous { full: false }),
            "full" => Ok(SqliteSynchronous { full: true }),
            other => Err(format!("unknown mode {other}")),
        }
    }
}

impl StoreConfig {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let store: StoreConfig = env.load()?;
        validate_db_url(&store)?;
        for (name, value) in [
            ("DB_POOL_SIZE", store.pool_size as u64),
            ("DB_DELIVERY_POOL_SIZE", store.delivery_pool_size as u64),
            ("READ_CONCURRENCY", store.read_concurrency as u64),
            ("READ_TIMEOUT_MS", store.read_timeout_ms),
            (
                "HEAVY_READS_PER_SECOND",
                store.heavy_reads_per_second as u64,
            ),
        ] {
            ConfigError::unless_positive(name, value, "expected a positive number")?;
        }
        if store.lease_seconds < 3 {
            return Err(ConfigError::invalid(
                "LEASE_SECONDS",
                "expected at least 3 seconds",
            ));
        }
        Ok(store)
    }
}

fn validate_db_url(store: &StoreConfig) -> Result<(), ConfigError> {
    let Some(url) = &store.url else { return Ok(()) };
    let url = url.expose();
    if url.starts_with("https://") {
        // The Python service's DB_URL was its CosmosDB endpoint.
        return Err(ConfigError::invalid(
            "DB_URL",
            "an https:// endpoint (the Python service's CosmosDB) is not a store Alvares \
             uses; DB_URL is now where Alvares keeps its journal and history: a file path \
             for embedded SQLite (unset: ./alvares.db) or postgres://user@host/db",
        ));
    }
    if url.contains("://") && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        return Err(ConfigError::invalid(
            "DB_URL",
            "expected a file path (SQLite) or a postgres:// URL",
        ));
    }
    Ok(())
}

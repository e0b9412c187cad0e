//! Configuration, from the environment only.
//!
//! One root [`Settings`] with a nested struct per concern, all read through
//! envconfig and validated once at start-up: a bad value stops the process
//! with a message naming the variable. Each subscriber reads its own
//! variables (its `config.rs`) from the same [`Env`] snapshot when the
//! registry starts, so adding an integration does not touch this file.
//!
//! Tests build settings from a map ([`Settings::from_map`]); nothing here
//! reads or mutates the process environment except [`Env::from_process`].

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use envconfig::Envconfig;

use crate::domain::enrichment::{ClusterHosts, EnrichmentSettings, TeamMarker};
use crate::domain::text::split_list;
use crate::subscribers::rate_limit::RateLimits;

/// A start-up configuration problem, always naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is required but not set")]
    Missing { name: String },
    #[error("{name} has an invalid value: {expected}")]
    Invalid { name: String, expected: String },
    #[error("DISABLED_SUBSCRIBERS names unknown subscriber(s) {unknown}; valid ids: {valid}")]
    UnknownSubscriber { unknown: String, valid: String },
}

impl ConfigError {
    pub fn invalid(name: &str, expected: impl Into<String>) -> Self {
        ConfigError::Invalid {
            name: name.to_owned(),
            expected: expected.into(),
        }
    }

    /// Turns envconfig's error into ours, adding what the variable expects.
    fn from_envconfig(error: envconfig::Error) -> Self {
        match error {
            envconfig::Error::EnvVarMissing { name } => ConfigError::Missing {
                name: name.to_owned(),
            },
            envconfig::Error::ParseError { name } => {
                ConfigError::invalid(name, expected_format(name))
            }
        }
    }
}

/// What a variable must look like, for the start-up error message.
fn expected_format(name: &str) -> &'static str {
    if name.ends_with("_HOST") || name.ends_with("_URL") || name.ends_with("_HOOK") {
        "expected an http(s) URL"
    } else if name == "PORT" {
        "expected a port number (1-65535)"
    } else if name == "SQLITE_SYNCHRONOUS" {
        "expected normal or full"
    } else if name == "RATE_LIMITS" {
        "expected name=<count>/<s|m|h>[:burst=N] or name=none items, comma-separated"
    } else {
        "expected a whole number"
    }
}

/// A snapshot of the environment variables, with empty values treated as
/// unset (`SLACK_WEB_HOOK=` in a manifest means "no webhook").
#[derive(Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    pub fn from_map(map: HashMap<String, String>) -> Self {
        Env(map
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(key, value)| (key, value.trim().to_owned()))
            .collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Reads one envconfig struct from this snapshot.
    pub fn load<T: Envconfig>(&self) -> Result<T, ConfigError> {
        T::init_from_hashmap(&self.0).map_err(ConfigError::from_envconfig)
    }
}

// Debug never prints values: the snapshot holds tokens and webhook URLs.
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Env({} variables)", self.0.len())
    }
}

/// A value that must never be printed: tokens, keys, passwords, webhooks.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The only way to the value; call it where the value is sent, not logged.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: FromStr> FromStr for Secret<T> {
    type Err = T::Err;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        T::from_str(s).map(Secret)
    }
}

/// An absolute http or https URL, kept as written (a trailing `/` matters
/// to some hosts' joins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HttpUrl {
    type Err = url::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = url::Url::parse(s)?;
        match parsed.scheme() {
            "http" | "https" if parsed.has_host() => Ok(HttpUrl(s.to_owned())),
            _ => Err(url::ParseError::RelativeUrlWithoutBase),
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A comma-separated list, items cleaned and de-duplicated (BEHAVIOUR §1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl FromStr for List {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(List(split_list(s)))
    }
}

/// `DEBUG`: true, yes or debug (any case) turn on debug logging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugFlag(pub bool);

impl FromStr for DebugFlag {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value = s.trim().to_ascii_lowercase();
        Ok(DebugFlag(matches!(
            value.as_str(),
            "true" | "yes" | "debug"
        )))
    }
}

/// The root configuration.
#[derive(Debug)]
pub struct Settings {
    pub server: ServerConfig,
    pub intake: IntakeConfig,
    pub enrichment: EnrichmentSettings,
    pub subscribers: SubscribersConfig,
    pub store: StoreConfig,
    /// The variables each subscriber reads for itself at start-up.
    pub env: Env,
}

#[derive(Envconfig, Debug)]
pub struct ServerConfig {
    #[envconfig(from = "PORT", default = "3010")]
    pub port: u16,
    #[envconfig(from = "DEBUG", default = "false")]
    pub debug: DebugFlag,
    /// HTTP worker threads; unset means one per CPU core.
    #[envconfig(from = "HTTP_WORKERS")]
    pub workers: Option<usize>,
    /// Turns the admin API on; sent as `Authorization: Bearer <token>`.
    #[envconfig(from = "ADMIN_TOKEN")]
    pub admin_token: Option<Secret<String>>,
    /// This replica's name in the admin API (the container's host name).
    #[envconfig(from = "HOSTNAME")]
    pub hostname: Option<String>,
    /// On SIGTERM/SIGINT, how long running deliveries may finish.
    #[envconfig(from = "SHUTDOWN_GRACE_SECONDS", default = "10")]
    pub shutdown_grace_seconds: u64,
}

#[derive(Envconfig, Debug)]
pub struct IntakeConfig {
    /// When set, intake requires `Authorization: Bearer <token>`.
    #[envconfig(from = "INGEST_TOKEN")]
    pub ingest_token: Option<Secret<String>>,
    #[envconfig(from = "MAX_BODY_BYTES", default = "262144")]
    pub max_body_bytes: usize,
}

#[derive(Envconfig, Debug)]
struct HostsConfig {
    #[envconfig(from = "ACTIVE_APP_HOST", default = "https://app.kth.se")]
    active_app: HttpUrl,
    #[envconfig(from = "ACTIVE_API_HOST", default = "https://api.kth.se")]
    active_api: HttpUrl,
    #[envconfig(from = "STAGE_APP_HOST", default = "https://app-r.referens.sys.kth.se")]
    stage_app: HttpUrl,
    #[envconfig(from = "STAGE_API_HOST", default = "https://api-r.referens.sys.kth.se")]
    stage_api: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_APP_HOST",
        default = "https://integral.everest.sys.kth.se/"
    )]
    integral_app: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_API_HOST",
        default = "https://integral.everest.sys.kth.se/"
    )]
    integral_api: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_STAGE_APP_HOST",
        default = "https://integral-r.referens.sys.kth.se"
    )]
    integral_stage_app: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_STAGE_API_HOST",
        default = "https://integral-r.referens.sys.kth.se"
    )]
    integral_stage_api: HttpUrl,
    #[envconfig(from = "UTR_KEYWORD", default = "APPLICATION_STATUS: OK")]
    monitor_keyword: String,
    /// Replaces the team marker table: `marker` or `marker=team`, in order.
    #[envconfig(from = "TEAM_MARKERS")]
    team_markers: Option<List>,
}

#[derive(Envconfig, Debug)]
pub struct SubscribersConfig {
    /// Ids (or the Python service's module names) disabled at start-up.
    #[envconfig(from = "DISABLED_SUBSCRIBERS", default = "")]
    pub disabled: List,
    /// Hard limit on one call to an integration.
    #[envconfig(from = "SUBSCRIBER_TIMEOUT_SECONDS", default = "10")]
    pub timeout_seconds: u64,
    /// Events a subscriber holds waiting before it refuses more.
    #[envconfig(from = "SUBSCRIBER_QUEUE_CAPACITY", default = "10000")]
    pub queue_capacity: usize,
    /// Deliveries a subscriber runs at the same time.
    #[envconfig(from = "SUBSCRIBER_CONCURRENCY", default = "16")]
    pub concurrency: usize,
    /// Per-subscriber paces, e.g. `slack=1/s:burst=3,uptimerobot=10/m`.
    #[envconfig(from = "RATE_LIMITS", default = "")]
    pub rate_limits: RateLimits,
    /// Transient failures in a row that open a subscriber's circuit.
    #[envconfig(from = "CIRCUIT_FAILURES", default = "5")]
    pub circuit_failures: u32,
    /// How long an open circuit waits before its first probe.
    #[envconfig(from = "CIRCUIT_COOLDOWN_SECONDS", default = "30")]
    pub circuit_cooldown_seconds: u64,
}

#[derive(Envconfig, Debug)]
pub struct StoreConfig {
    /// Unset or a file path: embedded SQLite; `postgres://…`: PostgreSQL.
    #[envconfig(from = "DB_URL")]
    pub url: Option<Secret<String>>,
    /// The PostgreSQL password, kept out of `DB_URL` as the original did.
    #[envconfig(from = "DB_PASSWORD")]
    pub password: Option<Secret<String>>,
    /// Connections for reads (queries, health); the journal writer holds one.
    #[envconfig(from = "DB_POOL_SIZE", default = "8")]
    pub pool_size: u32,
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

/// The test suite's switch for checking the fixtures against an external
/// JSON-schema validation service (BEHAVIOUR §4). Read by tests only.
#[derive(Envconfig, Debug)]
pub struct SchemaValidationConfig {
    #[envconfig(from = "SKIP_VALIDATION_TESTS")]
    pub skip: Option<String>,
    #[envconfig(from = "VALIDATE_DEPLOYMENT_URL")]
    pub deployment_url: Option<HttpUrl>,
}

impl Settings {
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(Env::from_process())
    }

    /// For tests: settings from a map, never from the process environment.
    pub fn from_map<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        Self::from_env(Env::from_map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    pub fn from_env(env: Env) -> Result<Self, ConfigError> {
        let server: ServerConfig = env.load()?;
        if server.port == 0 && env.get("PORT").is_some() {
            return Err(ConfigError::invalid("PORT", expected_format("PORT")));
        }
        let intake: IntakeConfig = env.load()?;
        if intake.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "MAX_BODY_BYTES",
                "expected a positive number of bytes",
            ));
        }
        let subscribers: SubscribersConfig = env.load()?;
        if subscribers.timeout_seconds == 0 {
            return Err(ConfigError::invalid(
                "SUBSCRIBER_TIMEOUT_SECONDS",
                "expected a positive number of seconds",
            ));
        }
        if subscribers.concurrency == 0 || subscribers.queue_capacity == 0 {
            let name = if subscribers.concurrency == 0 {
                "SUBSCRIBER_CONCURRENCY"
            } else {
                "SUBSCRIBER_QUEUE_CAPACITY"
            };
            return Err(ConfigError::invalid(name, "expected a positive number"));
        }
        let store: StoreConfig = env.load()?;
        validate_db_url(&store)?;
        if store.pool_size < 2 {
            return Err(ConfigError::invalid(
                "DB_POOL_SIZE",
                "expected at least 2 (the journal writer holds one connection)",
            ));
        }
        if store.lease_seconds < 3 {
            return Err(ConfigError::invalid(
                "LEASE_SECONDS",
                "expected at least 3 seconds",
            ));
        }
        let enrichment = enrichment_settings(env.load()?)?;
        Ok(Settings {
            server,
            intake,
            enrichment,
            subscribers,
            store,
            env,
        })
    }
}

fn validate_db_url(store: &StoreConfig) -> Result<(), ConfigError> {
    let Some(url) = &store.url else { return Ok(()) };
    let url = url.expose();
    if url.contains("://") && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        return Err(ConfigError::invalid(
            "DB_URL",
            "expected a file path (SQLite) or a postgres:// URL",
        ));
    }
    Ok(())
}

fn enrichment_settings(hosts: HostsConfig) -> Result<EnrichmentSettings, ConfigError> {
    let pair = |app: HttpUrl, api: HttpUrl| ClusterHosts {
        app: app.0,
        api: api.0,
    };
    let team_markers = match hosts.team_markers {
        None => EnrichmentSettings::default().team_markers,
        Some(List(items)) => items
            .iter()
            .map(|item| parse_team_marker(item))
            .collect::<Result<_, _>>()?,
    };
    Ok(EnrichmentSettings {
        active: pair(hosts.active_app, hosts.active_api),
        stage: pair(hosts.stage_app, hosts.stage_api),
        integral: pair(hosts.integral_app, hosts.integral_api),
        integral_stage: pair(hosts.integral_stage_app, hosts.integral_stage_api),
        monitor_keyword: hosts.monitor_keyword,
        team_markers,
    })
}

/// `team-kursinfo=team-kursinformation` or just `team-pipeline`.
fn parse_team_marker(item: &str) -> Result<TeamMarker, ConfigError> {
    let (marker, team) = match item.split_once('=') {
        Some((marker, team)) => (marker.trim(), team.trim()),
        None => (item, item),
    };
    if marker.is_empty() || team.is_empty() {
        return Err(ConfigError::invalid(
            "TEAM_MARKERS",
            "expected comma-separated `marker` or `marker=team` items",
        ));
    }
    Ok(TeamMarker {
        marker: marker.to_owned(),
        team: team.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(pairs: &[(&str, &str)]) -> String {
        Settings::from_map(pairs.iter().copied())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_need_no_variables() {
        let settings = Settings::from_map(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(settings.server.port, 3010);
        assert!(!settings.server.debug.0);
        assert_eq!(settings.intake.max_body_bytes, 262_144);
        assert!(settings.intake.ingest_token.is_none());
        assert_eq!(settings.subscribers.timeout_seconds, 10);
        assert_eq!(settings.enrichment.active.app, "https://app.kth.se");
        assert_eq!(
            settings.enrichment.integral.api,
            "https://integral.everest.sys.kth.se/"
        );
        assert_eq!(
            settings.enrichment.monitor_keyword,
            "APPLICATION_STATUS: OK"
        );
        assert_eq!(settings.enrichment.team_markers.len(), 7);
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(
            error_of(&[("PORT", "http")]),
            "PORT has an invalid value: expected a port number (1-65535)"
        );
        assert_eq!(
            error_of(&[("STAGE_APP_HOST", "not a url")]),
            "STAGE_APP_HOST has an invalid value: expected an http(s) URL"
        );
        assert_eq!(
            error_of(&[("ACTIVE_API_HOST", "ftp://api.kth.se")]),
            "ACTIVE_API_HOST has an invalid value: expected an http(s) URL"
        );
        assert_eq!(
            error_of(&[("MAX_BODY_BYTES", "-1")]),
            "MAX_BODY_BYTES has an invalid value: expected a whole number"
        );
        assert_eq!(
            error_of(&[("SUBSCRIBER_TIMEOUT_SECONDS", "0")]),
            "SUBSCRIBER_TIMEOUT_SECONDS has an invalid value: expected a positive number of seconds"
        );
        assert_eq!(
            error_of(&[("DB_URL", "mysql://db/alvares")]),
            "DB_URL has an invalid value: expected a file path (SQLite) or a postgres:// URL"
        );
        assert_eq!(
            error_of(&[("TEAM_MARKERS", "team-a,=team-b")]),
            "TEAM_MARKERS has an invalid value: expected comma-separated `marker` or `marker=team` items"
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let settings = Settings::from_map([("PORT", " "), ("INGEST_TOKEN", "")]).unwrap();
        assert_eq!(settings.server.port, 3010);
        assert!(settings.intake.ingest_token.is_none());
    }

    #[test]
    fn debug_flag_accepts_the_original_words() {
        for word in ["true", "YES", "debug", "True"] {
            assert!(word.parse::<DebugFlag>().unwrap().0, "{word}");
        }
        for word in ["false", "no", "1", "info"] {
            assert!(!word.parse::<DebugFlag>().unwrap().0, "{word}");
        }
    }

    #[test]
    fn team_markers_can_be_replaced() {
        let settings =
            Settings::from_map([("TEAM_MARKERS", "team-x, team-kurs=team-kursinformation")])
                .unwrap();
        let markers: Vec<(&str, &str)> = settings
            .enrichment
            .team_markers
            .iter()
            .map(|m| (m.marker.as_str(), m.team.as_str()))
            .collect();
        assert_eq!(
            markers,
            [("team-x", "team-x"), ("team-kurs", "team-kursinformation")]
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let settings = Settings::from_map([
            ("INGEST_TOKEN", "ingest-secret-1"),
            ("DB_PASSWORD", "db-secret-2"),
            ("SLACK_TOKEN", "xoxb-secret-3"),
        ])
        .unwrap();
        let printed = format!("{settings:?}");
        for secret in ["ingest-secret-1", "db-secret-2", "xoxb-secret-3"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }
}

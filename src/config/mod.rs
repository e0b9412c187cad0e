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

pub mod file;
mod rate_limits;
pub mod reading;
pub mod secret_text;
pub mod variables;
pub use file::{OperatorConfig, OperatorView};
pub use rate_limits::{RateLimit, RateLimits};

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
    } else if name == "LOG_FORMAT" {
        "expected text or json"
    } else if name == "RATE_LIMITS" {
        "expected name=<count>/<s|m|h>[:burst=N] or name=none items, comma-separated"
    } else if name == "RETRY_SCHEDULE" {
        "expected comma-separated waits such as 1s, 5s, 30s, 2m, 1h"
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

    /// This snapshot with `defaults` (the operator file's `[settings]`)
    /// under it: a variable that is set wins.
    pub fn with_defaults(mut self, defaults: &std::collections::BTreeMap<String, String>) -> Self {
        for (name, value) in defaults {
            if !value.trim().is_empty() {
                self.0
                    .entry(name.clone())
                    .or_insert_with(|| value.trim().to_owned());
            }
        }
        self
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

/// Every secret the configuration holds (tokens, keys, passwords, webhook
/// URLs), to take out of any text that leaves the process: an error a
/// destination answered may quote what it was sent.
#[derive(Clone, Default)]
pub struct Redactor(Vec<String>);

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.0.len())
    }
}

impl Redactor {
    /// The values of the variables that hold secrets (`*_KEY`, `*_KEYS`
    /// item by item, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, `SLACK_WEB_HOOK`).
    pub fn from_env(env: &Env) -> Self {
        Self::from_env_naming(env, &[])
    }

    /// As [`Self::from_env`], plus the variables the operator file names
    /// as holding secrets (a webhook's `url_env` and `secret_env`).
    pub fn from_env_naming(env: &Env, also: &[String]) -> Self {
        let mut secrets = Vec::new();
        for (name, value) in &env.0 {
            let secret = also.contains(name)
                || [
                    "_KEY",
                    "_KEYS",
                    "_TOKEN",
                    "_SECRET",
                    "_PASSWORD",
                    "_WEB_HOOK",
                ]
                .iter()
                .any(|suffix| name.ends_with(suffix));
            if !secret {
                continue;
            }
            if name.ends_with("_KEYS") {
                secrets.extend(split_list(value));
            } else {
                secrets.push(value.clone());
            }
            // A webhook's secret is its path: an answer may quote it alone.
            if (name.ends_with("_WEB_HOOK") || also.contains(name))
                && let Ok(url) = url::Url::parse(value)
                && url.path().len() > 1
            {
                secrets.push(url.path().to_owned());
                if let Some(last) = url.path_segments().and_then(|mut s| s.next_back()) {
                    secrets.push(last.to_owned());
                }
            }
        }
        // Too short to tell from ordinary text.
        secrets.retain(|s| s.len() >= 6);
        // Longest first, so a secret that contains another goes whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor(secrets)
    }

    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.0 {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
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
    pub alerts: AlertConfig,
    pub insights: InsightsConfig,
    /// The weekly digest; `None` without `DIGEST_CHANNELS`.
    pub digest: Option<DigestConfig>,
    /// The variables each subscriber reads for itself at start-up.
    pub env: Env,
    /// Takes the configured secrets out of texts that leave the process.
    pub redactor: std::sync::Arc<Redactor>,
    /// The operator file (`ALVARES_CONFIG`) as validated at start-up: an
    /// empty one without a file. Reloads replace the registry's copy.
    pub operator: std::sync::Arc<OperatorConfig>,
}

#[derive(Envconfig, Debug)]
pub struct ServerConfig {
    #[envconfig(from = "PORT", default = "3010")]
    pub port: u16,
    #[envconfig(from = "DEBUG", default = "false")]
    pub debug: DebugFlag,
    /// `text` (the default) or `json`: one JSON object per line.
    #[envconfig(from = "LOG_FORMAT", default = "text")]
    pub log_format: crate::logging::LogFormat,
    /// HTTP worker threads; unset means one per CPU core.
    #[envconfig(from = "HTTP_WORKERS")]
    pub workers: Option<usize>,
    /// Turns the admin API on; sent as `Authorization: Bearer <token>`.
    #[envconfig(from = "ADMIN_TOKEN")]
    pub admin_token: Option<Secret<String>>,
    /// When set, the read API (`GET /api/v1/…`) requires
    /// `Authorization: Bearer <token>` (this one or `ADMIN_TOKEN`).
    #[envconfig(from = "READ_TOKEN")]
    pub read_token: Option<Secret<String>>,
    /// This replica's name in the admin API (the container's host name).
    #[envconfig(from = "HOSTNAME")]
    pub hostname: Option<String>,
    /// On SIGTERM/SIGINT, how long running deliveries may finish. With the
    /// HTTP server's 1 s for requests in flight, the default stop takes at
    /// most 9 s: within `docker stop`'s 10 s.
    #[envconfig(from = "SHUTDOWN_GRACE_SECONDS", default = "8")]
    pub shutdown_grace_seconds: u64,
}

#[derive(Envconfig, Debug)]
pub struct IntakeConfig {
    /// When set, intake requires `Authorization: Bearer <token>`.
    #[envconfig(from = "INGEST_TOKEN")]
    pub ingest_token: Option<Secret<String>>,
    #[envconfig(from = "MAX_BODY_BYTES", default = "262144")]
    pub max_body_bytes: usize,
    /// A request body not fully arrived after this is answered 408 and its
    /// connection closed (headers have their own, shorter limit).
    #[envconfig(from = "BODY_TIMEOUT_SECONDS", default = "10")]
    pub body_timeout_seconds: u64,
    /// Distinct Slack channels one event may name; more is a 422.
    #[envconfig(from = "MAX_CHANNELS_PER_EVENT", default = "20")]
    pub max_channels_per_event: usize,
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

/// The delivery-performance figures (`GET /api/v1/insights`).
#[derive(Envconfig, Debug, Clone, Copy)]
pub struct InsightsConfig {
    /// An error event for an application and cluster this many hours or
    /// less after one of its deployments (and before the next) marks that
    /// deployment as failed.
    #[envconfig(from = "FAILURE_WINDOW_HOURS", default = "24")]
    pub failure_window_hours: u32,
    /// An answer is given again to the same question for this long
    /// (dashboards poll the same figures); 0: every request is computed.
    #[envconfig(from = "INSIGHTS_CACHE_SECONDS", default = "5")]
    pub cache_seconds: u64,
}

/// The weekly digest, as the environment gives it.
#[derive(Envconfig, Debug)]
struct DigestSettings {
    /// `team=#channel`, comma-separated.
    #[envconfig(from = "DIGEST_CHANNELS")]
    channels: Option<String>,
    #[envconfig(from = "DIGEST_DAY", default = "monday")]
    day: String,
    #[envconfig(from = "DIGEST_HOUR", default = "9")]
    hour: u32,
}

/// The weekly digest: each team's channel, and when (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// (team, channel), in the order given.
    pub teams: Vec<(String, String)>,
    /// 0 for Monday to 6 for Sunday.
    pub weekday: u32,
    pub hour: u32,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn digest_config(settings: DigestSettings) -> Result<Option<DigestConfig>, ConfigError> {
    let Some(channels) = settings.channels else {
        return Ok(None);
    };
    let mut teams = Vec::new();
    for item in crate::domain::split_list(&channels) {
        let Some((team, channel)) = item.split_once('=') else {
            return Err(ConfigError::invalid(
                "DIGEST_CHANNELS",
                format!("expected team=#channel, found {item}"),
            ));
        };
        let (team, channel) = (team.trim(), channel.trim());
        if team.is_empty() || channel.is_empty() {
            return Err(ConfigError::invalid(
                "DIGEST_CHANNELS",
                format!("expected team=#channel, found {item}"),
            ));
        }
        teams.push((team.to_owned(), channel.to_owned()));
    }
    let day = settings.day.trim().to_ascii_lowercase();
    let Some(weekday) = WEEKDAYS
        .iter()
        .position(|name| *name == day || name[..3] == day)
    else {
        return Err(ConfigError::invalid(
            "DIGEST_DAY",
            "expected a day of the week, e.g. monday or mon",
        ));
    };
    if settings.hour > 23 {
        return Err(ConfigError::invalid(
            "DIGEST_HOUR",
            "expected an hour from 0 to 23 (UTC)",
        ));
    }
    Ok((!teams.is_empty()).then_some(DigestConfig {
        teams,
        weekday: weekday as u32,
        hour: settings.hour,
    }))
}

/// Telling operators when deliveries are given up on.
#[derive(Envconfig, Debug)]
pub struct AlertConfig {
    /// The Slack channel told about dead letters and circuits open too
    /// long; unset: nobody is told (the metrics and the console still show
    /// them).
    #[envconfig(from = "ALERT_CHANNEL")]
    pub channel: Option<String>,
    /// A circuit open this long is announced, and a subscriber's alerts
    /// come at most once in this long.
    #[envconfig(from = "ALERT_AFTER_SECONDS", default = "300")]
    pub after_seconds: u64,
    /// Where operators reach this service (for the console links in
    /// alerts); default `http://<HOSTNAME or localhost>:<PORT>`.
    #[envconfig(from = "PUBLIC_URL")]
    pub public_url: Option<HttpUrl>,
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
    /// Waits before the 2nd, 3rd, … attempt of a failed delivery; after the
    /// last one it is a dead letter.
    #[envconfig(from = "RETRY_SCHEDULE", default = "1s,5s,30s,2m,10m,30m,1h,3h")]
    pub retry_schedule: RetrySchedule,
    /// How much each retry wait varies, ± percent, so retries spread out.
    #[envconfig(from = "RETRY_JITTER_PERCENT", default = "20")]
    pub retry_jitter_percent: u8,
    /// The longest pause a destination's `Retry-After` can ask for.
    #[envconfig(from = "MAX_RETRY_AFTER_SECONDS", default = "3600")]
    pub max_retry_after_seconds: u64,
    /// A delivery deferred (rate limit, open circuit) for longer than this
    /// becomes a dead letter saying so.
    #[envconfig(from = "MAX_DEFER_SECONDS", default = "86400")]
    pub max_defer_seconds: u64,
    /// Destinations (Slack channels, …) one rate limiter tracks at most;
    /// past this, deliveries to new destinations wait.
    #[envconfig(from = "RATE_LIMIT_DESTINATIONS", default = "10000")]
    pub rate_limit_destinations: usize,
}

/// `RETRY_SCHEDULE`: comma-separated waits (`500ms`, `5s`, `2m`, `1h`, or
/// humantime's longer forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<std::time::Duration>);

impl FromStr for RetrySchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let waits = split_list(s)
            .iter()
            .map(|item| humantime::parse_duration(item).map_err(|e| format!("{item}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if waits.is_empty() || waits.iter().any(|w| w.is_zero()) {
            return Err("expected at least one positive wait".into());
        }
        Ok(RetrySchedule(waits))
    }
}

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
        let read_limits: reading::ReadLimits = env.load()?;
        if read_limits.max_config_bytes == 0 {
            return Err(ConfigError::invalid(
                "MAX_CONFIG_BYTES",
                "expected a positive number of bytes",
            ));
        }
        let operator = match env.get("ALVARES_CONFIG") {
            None => OperatorConfig::default(),
            Some(path) => OperatorConfig::load(std::path::Path::new(path), &env)
                .map_err(|error| ConfigError::invalid("ALVARES_CONFIG", error.to_string()))?,
        };
        // The file's settings are defaults: every variable that is set wins.
        let env = env.with_defaults(&operator.settings);
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
        if intake.max_channels_per_event == 0 {
            return Err(ConfigError::invalid(
                "MAX_CHANNELS_PER_EVENT",
                "expected a positive number of channels",
            ));
        }
        if intake.body_timeout_seconds == 0 {
            return Err(ConfigError::invalid(
                "BODY_TIMEOUT_SECONDS",
                "expected a positive number of seconds",
            ));
        }
        if subscribers.retry_jitter_percent > 50 {
            return Err(ConfigError::invalid(
                "RETRY_JITTER_PERCENT",
                "expected a whole number from 0 to 50",
            ));
        }
        for (name, value) in [
            (
                "MAX_RETRY_AFTER_SECONDS",
                subscribers.max_retry_after_seconds,
            ),
            ("MAX_DEFER_SECONDS", subscribers.max_defer_seconds),
            (
                "RATE_LIMIT_DESTINATIONS",
                subscribers.rate_limit_destinations as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(name, "expected a positive number"));
            }
        }
        let store: StoreConfig = env.load()?;
        validate_db_url(&store)?;
        for (name, value) in [
            ("DB_POOL_SIZE", store.pool_size as usize),
            ("DB_DELIVERY_POOL_SIZE", store.delivery_pool_size as usize),
            ("READ_CONCURRENCY", store.read_concurrency),
            ("READ_TIMEOUT_MS", store.read_timeout_ms as usize),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(name, "expected a positive number"));
            }
        }
        if store.lease_seconds < 3 {
            return Err(ConfigError::invalid(
                "LEASE_SECONDS",
                "expected at least 3 seconds",
            ));
        }
        let enrichment = enrichment_settings(env.load()?)?;
        let redactor = std::sync::Arc::new(Redactor::from_env_naming(
            &env,
            &operator.secret_variables(),
        ));
        let alerts: AlertConfig = env.load()?;
        if alerts.after_seconds == 0 {
            return Err(ConfigError::invalid(
                "ALERT_AFTER_SECONDS",
                "expected a positive number of seconds",
            ));
        }
        if alerts.channel.is_some()
            && env.get("SLACK_WEB_HOOK").is_none()
            && env.get("SLACK_TOKEN").is_none()
        {
            return Err(ConfigError::invalid(
                "ALERT_CHANNEL",
                "needs Slack: set SLACK_WEB_HOOK or SLACK_TOKEN",
            ));
        }
        let insights: InsightsConfig = env.load()?;
        if insights.failure_window_hours == 0 {
            return Err(ConfigError::invalid(
                "FAILURE_WINDOW_HOURS",
                "expected a positive number of hours",
            ));
        }
        let digest = digest_config(env.load()?)?;
        if digest.is_some()
            && env.get("SLACK_WEB_HOOK").is_none()
            && env.get("SLACK_TOKEN").is_none()
        {
            return Err(ConfigError::invalid(
                "DIGEST_CHANNELS",
                "needs Slack: set SLACK_WEB_HOOK or SLACK_TOKEN",
            ));
        }
        Ok(Settings {
            digest,
            operator: std::sync::Arc::new(operator),
            redactor,
            alerts,
            insights,
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
            error_of(&[("DB_URL", "https://alvares.documents.azure.com:443/")]),
            "DB_URL has an invalid value: an https:// endpoint (the Python service's CosmosDB) \
             is not a store Alvares uses; DB_URL is now where Alvares keeps its journal and \
             history: a file path for embedded SQLite (unset: ./alvares.db) or \
             postgres://user@host/db"
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
    fn the_redactor_takes_out_every_configured_secret() {
        let settings = Settings::from_map([
            (
                "SLACK_WEB_HOOK",
                "https://hooks.test/services/T1/B2/abcdefgh",
            ),
            ("DETECTIFY_API_KEYS", "key-one-123, key-two-456"),
            ("UTR_API_KEY", "utr-key-789"),
            ("SLACK_CHANNELS", "#general-channel"),
        ])
        .unwrap();
        assert_eq!(
            settings
                .redactor
                .redact("POST https://hooks.test/services/T1/B2/abcdefgh with key-two-456 and utr-key-789 to #general-channel; no service /services/T1/B2/abcdefgh or abcdefgh"),
            "POST [redacted] with [redacted] and [redacted] to #general-channel; no service [redacted] or [redacted]"
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

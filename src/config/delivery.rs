//! How deliveries run: their bounds, paces, retries, and who is told
//! when they are given up on.

use std::str::FromStr;

use envconfig::Envconfig;

use super::RateLimits;
use super::env::{ConfigError, Env, HttpUrl, List};
use crate::domain::text::split_list;

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

impl SubscribersConfig {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let subscribers: SubscribersConfig = env.load()?;
        ConfigError::unless_positive(
            "SUBSCRIBER_TIMEOUT_SECONDS",
            subscribers.timeout_seconds,
            "expected a positive number of seconds",
        )?;
        for (name, value) in [
            ("SUBSCRIBER_CONCURRENCY", subscribers.concurrency),
            ("SUBSCRIBER_QUEUE_CAPACITY", subscribers.queue_capacity),
        ] {
            ConfigError::unless_positive(name, value as u64, "expected a positive number")?;
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
            ConfigError::unless_positive(name, value, "expected a positive number")?;
        }
        Ok(subscribers)
    }
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

impl AlertConfig {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let alerts: AlertConfig = env.load()?;
        ConfigError::unless_positive(
            "ALERT_AFTER_SECONDS",
            alerts.after_seconds,
            "expected a positive number of seconds",
        )?;
        if alerts.channel.is_some() {
            super::needs_slack(env, "ALERT_CHANNEL")?;
        }
        Ok(alerts)
    }
}

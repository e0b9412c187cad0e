//! The figures Alvares reports: the delivery-performance insights and
//! the weekly digest that sends them to each team.

use envconfig::Envconfig;

use super::env::{ConfigError, Env};

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

impl InsightsConfig {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let insights: InsightsConfig = env.load()?;
        ConfigError::unless_positive(
            "FAILURE_WINDOW_HOURS",
            insights.failure_window_hours.into(),
            "expected a positive number of hours",
        )?;
        Ok(insights)
    }
}

impl DigestConfig {
    /// `None` without `DIGEST_CHANNELS`.
    pub(super) fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let digest = digest_config(env.load()?)?;
        if digest.is_some() {
            super::needs_slack(env, "DIGEST_CHANNELS")?;
        }
        Ok(digest)
    }
}

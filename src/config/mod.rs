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

use std::sync::Arc;

mod delivery;
mod enrichment;
mod env;
pub mod file;
mod rate_limits;
pub mod reading;
mod redactor;
mod reports;
pub mod secret_text;
mod server;
mod store;
pub mod variables;

pub use delivery::{AlertConfig, RetrySchedule, SubscribersConfig};
pub use env::{ConfigError, DebugFlag, Env, HttpUrl, List, Secret};
pub use file::{OperatorConfig, OperatorView};
pub use rate_limits::{RateLimit, RateLimits};
pub use redactor::Redactor;
pub use reports::{DigestConfig, InsightsConfig};
pub use server::{IntakeConfig, ServerConfig};
pub use store::{SqliteSynchronous, StoreConfig};

use crate::domain::enrichment::EnrichmentSettings;
use envconfig::Envconfig;

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

    /// Reads every concern in turn; the first bad value stops it, named.
    pub fn from_env(env: Env) -> Result<Self, ConfigError> {
        let operator = operator_file(&env)?;
        // The file's settings are defaults: every variable that is set wins.
        let env = env.with_defaults(&operator.settings);
        let server = ServerConfig::from_env(&env)?;
        let intake = IntakeConfig::from_env(&env)?;
        let subscribers = SubscribersConfig::from_env(&env)?;
        let store = StoreConfig::from_env(&env)?;
        let enrichment = enrichment::from_env(&env)?;
        let redactor = Arc::new(Redactor::from_env_naming(
            &env,
            &operator.secret_variables(),
        ));
        let alerts = AlertConfig::from_env(&env)?;
        let insights = InsightsConfig::from_env(&env)?;
        let digest = DigestConfig::from_env(&env)?;
        Ok(Settings {
            digest,
            operator: Arc::new(operator),
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

/// The operator file `ALVARES_CONFIG` names, validated (an empty one
/// without it).
fn operator_file(env: &Env) -> Result<OperatorConfig, ConfigError> {
    let read_limits: reading::ReadLimits = env.load()?;
    ConfigError::unless_positive(
        "MAX_CONFIG_BYTES",
        read_limits.max_config_bytes,
        "expected a positive number of bytes",
    )?;
    match env.get("ALVARES_CONFIG") {
        None => Ok(OperatorConfig::default()),
        Some(path) => OperatorConfig::load(std::path::Path::new(path), env)
            .map_err(|error| ConfigError::invalid("ALVARES_CONFIG", error.to_string())),
    }
}

/// What Slack sends (alerts, the digest) needs Slack configured.
fn needs_slack(env: &Env, name: &str) -> Result<(), ConfigError> {
    if env.get("SLACK_WEB_HOOK").is_none() && env.get("SLACK_TOKEN").is_none() {
        return Err(ConfigError::invalid(
            name,
            "needs Slack: set SLACK_WEB_HOOK or SLACK_TOKEN",
        ));
    }
    Ok(())
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

//! The HTTP side: the port, logging, tokens and what intake accepts.

use envconfig::Envconfig;

use super::env::{ConfigError, DebugFlag, Env, Secret, expected_format};

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

impl ServerConfig {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let server: ServerConfig = env.load()?;
        if server.port == 0 && env.get("PORT").is_some() {
            return Err(ConfigError::invalid("PORT", expected_format("PORT")));
        }
        Ok(server)
    }
}

impl IntakeConfig {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let intake: IntakeConfig = env.load()?;
        ConfigError::unless_positive(
            "MAX_BODY_BYTES",
            intake.max_body_bytes as u64,
            "expected a positive number of bytes",
        )?;
        ConfigError::unless_positive(
            "MAX_CHANNELS_PER_EVENT",
            intake.max_channels_per_event as u64,
            "expected a positive number of channels",
        )?;
        ConfigError::unless_positive(
            "BODY_TIMEOUT_SECONDS",
            intake.body_timeout_seconds,
            "expected a positive number of seconds",
        )?;
        Ok(intake)
    }
}

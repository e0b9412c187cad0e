//! The optional operator file (`ALVARES_CONFIG=/path/alvares.toml`): routes,
//! templates, webhooks and settings, validated as a whole. Every
//! environment variable keeps working and wins over the file's
//! `[settings]`. Secrets never sit in the file: it names the environment
//! variables that hold them (`url_env`, `secret_env`).
//!
//! ```toml
//! [settings]                      # variables that hold no secret and send none
//! SLACK_CHANNELS = "#deploys"
//!
//! [[routes]]
//! name = "studadm production"
//! kinds = ["deployment"]          # default: every kind
//! when = { cluster = "active", team = "team-studadm" }   # exact or glob (`kth-*`)
//! slack_channels = ["#studadm-prod"]   # in addition to the built-in choice
//! only = false                    # true: instead of it
//! never_channels = ["#general"]   # never to these, whatever chose them
//! webhooks = ["ops"]              # also to these webhooks
//! once_per = { fields = ["applicationName", "version", "cluster"], window = "1h" }
//!
//! [templates]
//! slack-error = '''{"text": {{ event.message | tojson }}, "username": "CI", "icon_emoji": ":x:"}'''
//!
//! [[webhooks]]
//! name = "ops"
//! url_env = "OPS_HOOK_URL"        # or url = "https://…" when it is not a secret
//! secret_env = "OPS_HOOK_SECRET"  # whsec_…: signed per Standard Webhooks
//! headers = { "X-Team" = "ops" }
//! headers_env = { Authorization = "OPS_HOOK_AUTH" }   # secret values
//! kinds = ["error"]
//! routed = false                  # true: only events a route names
//!
//! [[destinations]]                # a destination of a known type
//! name = "platform"
//! type = "teams"                  # see `DestinationType`
//! url_env = "PLATFORM_TEAMS_URL"  # its URL is a secret
//! kinds = ["deployment", "error"] # and when, routed, once_per, rate_limit
//! ```
//!
//! Webhooks and destinations share one set of names: a route names either
//! in `webhooks` or `destinations`.

mod lines;
mod parse;
mod policy;
mod spec;
mod summary;
mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::reading::{ReadLimits, read_operator_file};
use super::{Env, Secret};
use crate::domain::EventKind;
use crate::templates::Templates;

pub use crate::domain::matching::{Conditions, Matcher};
pub use summary::{
    ConfigSummary, MailSummary, OncePerSummary, RouteSummary, TemplatesSummary, WebhookSummary,
};
pub use view::OperatorView;

/// Why a file was refused, naming its line where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct FileError {
    pub line: Option<usize>,
    pub message: String,
}

impl FileError {
    fn new(message: impl Into<String>) -> Self {
        FileError {
            line: None,
            message: message.into(),
        }
    }
}

/// Noise control: deliveries with the same key (built from event fields)
/// within `window` of the first go out once; the rest are skipped as
/// duplicates.
#[derive(Debug, Clone)]
pub struct OncePer {
    pub fields: Vec<String>,
    pub window: Duration,
}

/// One `once_per` rule applied to an event: deliveries to `subscribers`,
/// and the destinations `route` added, go out for the first event with
/// `key` within `window`, and are skipped as its duplicates after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceClaim {
    pub key: String,
    pub window: Duration,
    pub subscribers: Vec<String>,
    pub route: Option<String>,
}

/// A route, validated.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub kinds: Vec<EventKind>,
    pub when: Conditions,
    pub slack_channels: Vec<String>,
    pub only: bool,
    pub never_channels: Vec<String>,
    /// The webhooks and destinations it adds, by name.
    pub webhooks: Vec<String>,
    pub once_per: Option<OncePer>,
}

/// A type of `[[destinations]]` (Teams, …), submitted by its integration
/// (`inventory::submit!` in its folder), so the file knows it without
/// depending on the integrations.
pub struct DestinationType {
    /// Its `type` in the file, and its subscribers' id prefix.
    pub name: &'static str,
    /// Its pace when the file gives none: the vendor's documented limit.
    pub default_rate_limit: crate::config::RateLimit,
    /// The secret it is given.
    pub credential: Credential,
}

/// What secret a destination type is given, and so which variable its
/// `[[destinations]]` entry names.
#[derive(Debug, Clone, Copy)]
pub enum Credential {
    /// Its whole URL is the secret (`url_env`): a chat webhook.
    Url,
    /// An API key (`key_env`) sent to the vendor's API, whose address is
    /// shown as `endpoint` (its base URL is environment-only).
    Key { endpoint: &'static str },
    /// The address of the operator's own instance (`url_env`) and a key
    /// for it (`key_env`): Grafana.
    UrlAndKey,
    /// An API token (`key_env`) sent to the vendor's API (shown as
    /// `endpoint`), and `repositories`: the repository (`owner/name`) each
    /// application is in, which it acts on. GitHub.
    KeyAndRepositories { endpoint: &'static str },
    /// A mail server's URL (`url_env`, with its login), in the type's own
    /// form, which `check_url` validates (naming the host, never the
    /// password); the entry also takes `from`, `to` and `teams`, each
    /// address validated by `check_address`.
    MailServer {
        check_url: fn(&str) -> Result<(), String>,
        check_address: fn(&str) -> Result<(), String>,
    },
}

/// Where a mail destination's messages go.
#[derive(Debug, Clone, Default)]
pub struct MailAddressing {
    /// Its sender (`from`).
    pub from: String,
    /// Who gets every message (`to`).
    pub to: Vec<String>,
    /// Who also gets the messages of an event whose `team` is the key.
    pub teams: BTreeMap<String, String>,
}

inventory::collect!(DestinationType);

/// The destination type named `name`.
pub fn destination_type(name: &str) -> Option<&'static DestinationType> {
    inventory::iter::<DestinationType>().find(|known| known.name == name)
}

/// A webhook or a typed destination, validated.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    /// `webhook-<name>`, or `<type>-<name>` for a destination: its
    /// subscriber id.
    pub id: String,
    /// A destination's type (its messages come from the type's
    /// templates); `None` for a `[[webhooks]]` entry.
    pub destination_type: Option<&'static str>,
    pub url: Secret<String>,
    /// Where the URL came from, for showing the configuration.
    pub url_source: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    /// The body template's name in [`Templates`].
    pub template: String,
    pub kinds: Vec<EventKind>,
    pub when: Conditions,
    pub routed: bool,
    /// Its messages are signed when it has one.
    pub signing_key: Option<SigningKey>,
    pub secret_env: Option<String>,
    /// The variables that hold secret header values.
    pub header_variables: Vec<String>,
    /// A destination's `key_env`: the variable holding its API key.
    pub key_variable: Option<String>,
    /// A mail destination's sender and recipients.
    pub mail: Option<MailAddressing>,
    /// The repository (`owner/name`) of each application, for a type that
    /// acts on repositories.
    pub repositories: BTreeMap<String, String>,
    pub once_per: Option<OncePer>,
    pub rate_limit: Option<crate::config::RateLimit>,
}

/// The key a webhook's messages are signed with (Standard Webhooks): the
/// bytes of its `whsec_` secret, decoded once when the file is read.
#[derive(Clone)]
pub struct SigningKey(Secret<Vec<u8>>);

impl SigningKey {
    /// The key of a Standard Webhooks secret: the bytes base64-encoded
    /// after `whsec_`; `None` when it is not one.
    pub fn from_secret(secret: &str) -> Option<Self> {
        use base64::Engine;
        let encoded = secret.trim().strip_prefix("whsec_")?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .filter(|key| !key.is_empty())
            .map(|key| SigningKey(Secret::new(key)))
    }

    /// The key's bytes; call it where a message is signed.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// The operator's configuration in force: what the file says (an empty
/// one without a file), validated and compiled.
#[derive(Debug, Clone, Default)]
pub struct OperatorConfig {
    pub source: Option<PathBuf>,
    pub settings: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    pub templates: Templates,
    pub webhooks: Vec<Webhook>,
}

impl OperatorConfig {
    /// Reads and validates the file at `path` (a regular file, at most
    /// `MAX_CONFIG_BYTES`); secrets come from `env`.
    pub fn load(path: &Path, env: &Env) -> Result<Self, FileError> {
        let limits: ReadLimits = env
            .load()
            .map_err(|error| FileError::new(error.to_string()))?;
        let text = read_operator_file(path, limits).map_err(FileError::new)?;
        let mut config = Self::parse(&text, env)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// The variables that hold the file's secrets (webhook URLs given by
    /// `url_env`, signing secrets), for the redactor.
    pub fn secret_variables(&self) -> Vec<String> {
        self.webhooks
            .iter()
            .flat_map(|w| {
                w.url_source
                    .strip_prefix('$')
                    .map(str::to_owned)
                    .into_iter()
                    .chain(w.secret_env.clone())
                    .chain(w.key_variable.clone())
                    .chain(w.header_variables.iter().cloned())
            })
            .collect()
    }

    pub fn webhook(&self, name: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.name == name)
    }
}

//! The optional operator file (`ALVARES_CONFIG=/path/alvares.toml`): routes,
//! templates, webhooks and settings, validated as a whole. Every
//! environment variable keeps working and wins over the file's
//! `[settings]`. Secrets never sit in the file: it names the environment
//! variables that hold them (`url_env`, `secret_env`).
//!
//! ```toml
//! [settings]                      # any variable Alvares reads, but no secret
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
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{Env, HttpUrl, Secret};

/// The operator configuration in force, as every reader sees it: the
/// registry owns the sender and replaces it on a reload.
pub type OperatorView = tokio::sync::watch::Receiver<std::sync::Arc<OperatorConfig>>;
use crate::domain::EventKind;
pub use crate::domain::matching::{Conditions, Matcher};
use crate::templates::{DEFAULT_WEBHOOK_BODY, TemplateUse, Templates};

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

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    settings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    #[serde(default)]
    templates: BTreeMap<String, String>,
    #[serde(default)]
    webhooks: Vec<WebhookSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    name: String,
    #[serde(default)]
    kinds: Vec<EventKind>,
    #[serde(default)]
    when: BTreeMap<String, Patterns>,
    #[serde(default)]
    slack_channels: Vec<String>,
    #[serde(default)]
    only: bool,
    #[serde(default)]
    never_channels: Vec<String>,
    #[serde(default)]
    webhooks: Vec<String>,
    once_per: Option<OncePerSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Patterns {
    One(String),
    Any(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OncePerSpec {
    fields: Vec<String>,
    window: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookSpec {
    name: String,
    url: Option<String>,
    url_env: Option<String>,
    #[serde(default = "post")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Headers whose values are secrets: header name → the variable.
    #[serde(default)]
    headers_env: BTreeMap<String, String>,
    body: Option<String>,
    #[serde(default)]
    kinds: Vec<EventKind>,
    #[serde(default)]
    when: BTreeMap<String, Patterns>,
    #[serde(default)]
    routed: bool,
    secret_env: Option<String>,
    once_per: Option<OncePerSpec>,
    rate_limit: Option<String>,
}

fn post() -> String {
    "POST".into()
}

/// Noise control: deliveries with the same key (built from event fields)
/// within `window` of the first go out once; the rest are skipped as
/// duplicates.
#[derive(Debug, Clone)]
pub struct OncePer {
    pub fields: Vec<String>,
    pub window: Duration,
}

impl OncePer {
    /// The key of an event: its fields' values, in order.
    pub fn key(&self, event: &Value) -> String {
        self.fields
            .iter()
            .map(|field| match event.get(field) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }
}

/// One `once_per` rule applied to an event: deliveries to `subscribers`
/// go out for the first event with `key` within `window`, and are skipped
/// as its duplicates after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceClaim {
    pub key: String,
    pub window: Duration,
    pub subscribers: Vec<String>,
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
    pub webhooks: Vec<String>,
    pub once_per: Option<OncePer>,
}

impl Route {
    pub fn matches(&self, kind: EventKind, event: &Value) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self.when.match_event(kind, event, None)
    }
}

/// A webhook destination, validated.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    /// `webhook-<name>`: its subscriber id.
    pub id: String,
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
    pub secret: Option<Secret<String>>,
    pub secret_env: Option<String>,
    /// The variables that hold secret header values.
    pub header_variables: Vec<String>,
    pub once_per: Option<OncePer>,
    pub rate_limit: Option<super::RateLimit>,
}

impl Webhook {
    pub fn takes(&self, kind: EventKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
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
    /// Reads and validates the file at `path`; secrets come from `env`.
    pub fn load(path: &Path, env: &Env) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| FileError::new(format!("cannot read {}: {error}", path.display())))?;
        let mut config = Self::parse(&text, env)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Validates a file's text.
    pub fn parse(text: &str, env: &Env) -> Result<Self, FileError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let spec: FileSpec = toml::from_str(text).map_err(|error| FileError {
            line: error.span().map(|span| line_of(span.start)),
            message: error.message().to_owned(),
        })?;
        // Where a part of the file starts, for errors found after parsing.
        let find_line = |needle: &str| text.find(needle).map(line_of);

        let mut settings = BTreeMap::new();
        for (name, value) in spec.settings {
            if is_secret_name(&name) {
                return Err(FileError {
                    line: find_line(&name),
                    message: format!(
                        "{name} is a secret: set it in the environment, not in the file"
                    ),
                });
            }
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(text) => text.clone(),
                        other => other.type_str().to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => {
                    return Err(FileError {
                        line: find_line(&name),
                        message: format!(
                            "settings.{name}: expected a value, not a {}",
                            other.type_str()
                        ),
                    });
                }
            };
            settings.insert(name, value);
        }

        let mut templates_source = spec.templates.clone();
        for name in spec.templates.keys() {
            if !crate::templates::BUILT_IN.iter().any(|(n, _)| n == name) {
                return Err(FileError {
                    line: find_line(&format!("{name} =")).or_else(|| find_line(name)),
                    message: format!(
                        "templates.{name}: no such template (the built-in ones are {})",
                        crate::templates::BUILT_IN
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }

        let mut webhooks = Vec::new();
        let mut names = BTreeSet::new();
        for spec in spec.webhooks {
            let at = find_line(&format!("\"{}\"", spec.name));
            let fail = |message: String| FileError { line: at, message };
            if !valid_name(&spec.name) {
                return Err(fail(format!(
                    "webhooks: the name {:?} must be lower-case letters, digits and dashes",
                    spec.name
                )));
            }
            if !names.insert(spec.name.clone()) {
                return Err(fail(format!("webhooks: {} is named twice", spec.name)));
            }
            let (url, url_source) = match (&spec.url, &spec.url_env) {
                (Some(url), None) => (url.clone(), url.clone()),
                (None, Some(variable)) => (
                    env.get(variable)
                        .ok_or_else(|| {
                            fail(format!(
                                "webhook {}: url_env names {variable}, which is not set",
                                spec.name
                            ))
                        })?
                        .to_owned(),
                    format!("${variable}"),
                ),
                _ => {
                    return Err(fail(format!(
                        "webhook {}: give url or url_env (one of them)",
                        spec.name
                    )));
                }
            };
            if url.parse::<HttpUrl>().is_err() {
                return Err(fail(format!(
                    "webhook {}: the URL ({url_source}) is not an http(s) URL",
                    spec.name
                )));
            }
            let method = spec.method.to_ascii_uppercase();
            if !["POST", "PUT", "PATCH"].contains(&method.as_str()) {
                return Err(fail(format!(
                    "webhook {}: method must be POST, PUT or PATCH",
                    spec.name
                )));
            }
            let secret = match &spec.secret_env {
                None => None,
                Some(variable) => {
                    let value = env.get(variable).ok_or_else(|| {
                        fail(format!(
                            "webhook {}: secret_env names {variable}, which is not set",
                            spec.name
                        ))
                    })?;
                    if signing_key(value).is_none() {
                        return Err(fail(format!(
                            "webhook {}: {variable} must be a whsec_ secret (base64 after the prefix)",
                            spec.name
                        )));
                    }
                    Some(Secret::new(value.to_owned()))
                }
            };
            let mut headers = spec.headers.clone();
            for name in headers.keys() {
                if ["authorization", "proxy-authorization", "cookie"]
                    .contains(&name.to_ascii_lowercase().as_str())
                {
                    return Err(fail(format!(
                        "webhook {}: the {name} header holds a secret: give it in headers_env \
                         (the variable that holds it), not in the file",
                        spec.name
                    )));
                }
            }
            for (name, variable) in &spec.headers_env {
                let value = env.get(variable).ok_or_else(|| {
                    fail(format!(
                        "webhook {}: headers_env.{name} names {variable}, which is not set",
                        spec.name
                    ))
                })?;
                headers.insert(name.clone(), value.to_owned());
            }
            let template = format!("webhook:{}", spec.name);
            templates_source.insert(
                template.clone(),
                spec.body
                    .clone()
                    .unwrap_or_else(|| DEFAULT_WEBHOOK_BODY.to_owned()),
            );
            let rate_limit = match &spec.rate_limit {
                None => None,
                Some(text) => Some(text.parse().map_err(|error: String| {
                    fail(format!("webhook {}: rate_limit: {error}", spec.name))
                })?),
            };
            webhooks.push(Webhook {
                id: format!("webhook-{}", spec.name),
                name: spec.name.clone(),
                url: Secret::new(url),
                url_source,
                method,
                headers,
                header_variables: spec.headers_env.values().cloned().collect(),
                template,
                kinds: spec.kinds,
                when: Conditions::parse(&patterns(spec.when))
                    .map_err(|e| fail(format!("webhook {}: when.{e}", spec.name)))?,
                routed: spec.routed,
                secret,
                secret_env: spec.secret_env,
                once_per: once_per(spec.once_per)
                    .map_err(|e| fail(format!("webhook {}: once_per: {e}", spec.name)))?,
                rate_limit,
            });
        }

        let mut routes = Vec::new();
        for spec in spec.routes {
            let at = find_line(&format!("\"{}\"", spec.name));
            let fail = |message: String| FileError { line: at, message };
            for webhook in &spec.webhooks {
                if !webhooks.iter().any(|w| &w.name == webhook) {
                    return Err(fail(format!(
                        "route {}: no webhook is named {webhook}",
                        spec.name
                    )));
                }
            }
            for channel in spec.slack_channels.iter().chain(&spec.never_channels) {
                if channel.trim().is_empty() {
                    return Err(fail(format!("route {}: an empty channel", spec.name)));
                }
            }
            routes.push(Route {
                when: Conditions::parse(&patterns(spec.when))
                    .map_err(|e| fail(format!("route {}: when.{e}", spec.name)))?,
                once_per: once_per(spec.once_per)
                    .map_err(|e| fail(format!("route {}: once_per: {e}", spec.name)))?,
                name: spec.name,
                kinds: spec.kinds,
                slack_channels: spec.slack_channels,
                only: spec.only,
                never_channels: spec.never_channels,
                webhooks: spec.webhooks,
            });
        }

        let templates = Templates::compile(&templates_source).map_err(|error| {
            // The template's own line counted from where its text starts
            // in the file (found verbatim unless it has escapes), else
            // from its key.
            let source = templates_source.get(&error.name).map(String::as_str);
            let starts = source
                .filter(|source| !source.trim().is_empty())
                .and_then(|source| text.find(source))
                .map(line_of)
                .or_else(|| find_line(&format!("{} =", error.name)))
                .or_else(|| {
                    find_line(&format!(
                        "\"{}\"",
                        error.name.trim_start_matches("webhook:")
                    ))
                });
            FileError {
                line: match (starts, error.line) {
                    (Some(start), Some(line)) => Some(start + line - 1),
                    (start, _) => start,
                },
                message: error.to_string(),
            }
        })?;
        check_templates(&templates, &webhooks, &find_line)?;
        Ok(OperatorConfig {
            source: None,
            settings,
            routes,
            templates,
            webhooks,
        })
    }

    /// The routes an event matches, in the file's order.
    pub fn routes_for<'a>(
        &'a self,
        kind: EventKind,
        event: &'a Value,
    ) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes
            .iter()
            .filter(move |route| route.matches(kind, event))
    }

    /// The channels of an event's main Slack message: the built-in choice
    /// (none of it when a matching route says `only`), then each matching
    /// route's channels not already there, less every matching route's
    /// `never_channels`.
    pub fn slack_channels(
        &self,
        kind: EventKind,
        event: &Value,
        built_in: Vec<String>,
    ) -> Vec<String> {
        let routes: Vec<&Route> = self.routes_for(kind, event).collect();
        let mut channels = if routes.iter().any(|route| route.only) {
            Vec::new()
        } else {
            built_in
        };
        for channel in routes.iter().flat_map(|route| &route.slack_channels) {
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
        }
        channels.retain(|channel| !routes.iter().any(|r| r.never_channels.contains(channel)));
        channels
    }

    /// Any other Slack message's channels: only `never_channels` apply.
    pub fn without_never_channels(
        &self,
        kind: EventKind,
        event: &Value,
        mut channels: Vec<String>,
    ) -> Vec<String> {
        let routes: Vec<&Route> = self.routes_for(kind, event).collect();
        channels.retain(|channel| !routes.iter().any(|r| r.never_channels.contains(channel)));
        channels
    }

    /// Whether a webhook gets an event: one of its kinds, and either a
    /// matching route names it or it is not `routed` and its own `when`
    /// holds.
    pub fn webhook_takes(&self, webhook: &Webhook, kind: EventKind, event: &Value) -> bool {
        webhook.takes(kind)
            && ((!webhook.routed && webhook.when.match_event(kind, event, None))
                || self
                    .routes_for(kind, event)
                    .any(|route| route.webhooks.contains(&webhook.name)))
    }

    /// The noise-control claims an event makes: for each matching route
    /// with `once_per`, its key over the kind's main message (`routed`)
    /// and the route's webhooks; for each webhook with `once_per`, its key
    /// over that webhook.
    pub fn once_per_claims(
        &self,
        kind: EventKind,
        event: &Value,
        routed: &[&'static str],
    ) -> Vec<OnceClaim> {
        let mut claims = Vec::new();
        for route in self.routes_for(kind, event) {
            if let Some(once) = &route.once_per {
                let mut subscribers: Vec<String> = routed.iter().map(|s| (*s).to_owned()).collect();
                subscribers.extend(route.webhooks.iter().map(|name| format!("webhook-{name}")));
                claims.push(OnceClaim {
                    key: format!("route {}: {}", route.name, once.key(event)),
                    window: once.window,
                    subscribers,
                });
            }
        }
        for webhook in &self.webhooks {
            if let Some(once) = &webhook.once_per {
                claims.push(OnceClaim {
                    key: format!("webhook {}: {}", webhook.name, once.key(event)),
                    window: once.window,
                    subscribers: vec![webhook.id.clone()],
                });
            }
        }
        claims
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
                    .chain(w.header_variables.iter().cloned())
            })
            .collect()
    }

    pub fn webhook(&self, name: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.name == name)
    }

    /// The configuration as `GET /admin/config` and `check-config` show
    /// it: everything in force, secrets only by the variable that holds
    /// them.
    pub fn summary(&self) -> ConfigSummary {
        let kinds = |kinds: &[EventKind]| -> Vec<EventKind> {
            if kinds.is_empty() {
                EventKind::ALL.to_vec()
            } else {
                kinds.to_vec()
            }
        };
        let once_per = |o: &Option<OncePer>| {
            o.as_ref().map(|o| OncePerSummary {
                fields: o.fields.clone(),
                window: humantime::format_duration(o.window).to_string(),
            })
        };
        ConfigSummary {
            file: self.source.as_ref().map(|p| p.display().to_string()),
            settings: self.settings.clone(),
            routes: self
                .routes
                .iter()
                .map(|r| RouteSummary {
                    name: r.name.clone(),
                    kinds: kinds(&r.kinds),
                    when: r.when.describe(),
                    slack_channels: r.slack_channels.clone(),
                    only: r.only,
                    never_channels: r.never_channels.clone(),
                    webhooks: r.webhooks.clone(),
                    once_per: once_per(&r.once_per),
                })
                .collect(),
            templates: TemplatesSummary {
                replaced: self
                    .templates
                    .replaced()
                    .iter()
                    .filter(|n| !n.starts_with("webhook:"))
                    .cloned()
                    .collect(),
                built_in: crate::templates::BUILT_IN
                    .iter()
                    .map(|(n, _)| (*n).to_owned())
                    .collect(),
            },
            webhooks: self
                .webhooks
                .iter()
                .map(|w| WebhookSummary {
                    name: w.name.clone(),
                    subscriber: w.id.clone(),
                    url: w.url_source.clone(),
                    method: w.method.clone(),
                    headers: w.headers.keys().cloned().collect(),
                    kinds: kinds(&w.kinds),
                    when: w.when.describe(),
                    routed: w.routed,
                    signed_with: w.secret_env.as_ref().map(|v| format!("${v}")),
                    once_per: once_per(&w.once_per),
                    rate_limit: w.rate_limit.map(|l| l.to_string()),
                })
                .collect(),
        }
    }
}

/// The configuration in force, as shown (secrets only by their variable).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSummary {
    /// The file (`ALVARES_CONFIG`); null without one.
    pub file: Option<String>,
    /// The file's `[settings]` (variables that are set win over them).
    pub settings: BTreeMap<String, String>,
    pub routes: Vec<RouteSummary>,
    pub templates: TemplatesSummary,
    pub webhooks: Vec<WebhookSummary>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSummary {
    pub name: String,
    pub kinds: Vec<EventKind>,
    /// E.g. `cluster = active and team = team-*`.
    pub when: String,
    pub slack_channels: Vec<String>,
    pub only: bool,
    pub never_channels: Vec<String>,
    pub webhooks: Vec<String>,
    pub once_per: Option<OncePerSummary>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OncePerSummary {
    pub fields: Vec<String>,
    /// E.g. `1h`.
    pub window: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplatesSummary {
    /// Built-in templates the file replaces.
    pub replaced: Vec<String>,
    pub built_in: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSummary {
    pub name: String,
    /// Its subscriber id, `webhook-<name>`.
    pub subscriber: String,
    /// The URL, or `$VARIABLE` when it comes from one (a secret).
    pub url: String,
    pub method: String,
    /// The names of its extra headers (values not shown).
    pub headers: Vec<String>,
    pub kinds: Vec<EventKind>,
    pub when: String,
    pub routed: bool,
    /// `$VARIABLE` holding its `whsec_` secret; null when unsigned.
    pub signed_with: Option<String>,
    pub once_per: Option<OncePerSummary>,
    pub rate_limit: Option<String>,
}

/// Renders every template against the sample events of the kinds it is
/// used for (see `templates::samples`): one that reaches a limit or fails
/// is refused, naming it and its line in the file.
fn check_templates(
    templates: &Templates,
    webhooks: &[Webhook],
    find_line: &dyn Fn(&str) -> Option<usize>,
) -> Result<(), FileError> {
    let uses: Vec<TemplateUse> = webhooks
        .iter()
        .map(|webhook| TemplateUse {
            name: webhook.template.clone(),
            kinds: webhook.kinds.clone(),
        })
        .collect();
    templates.check_against_samples(&uses).map_err(|error| {
        let line = match error.name.strip_prefix("webhook:") {
            Some(webhook) => find_line(&format!("\"{webhook}\"")),
            None => find_line(&format!("{} =", error.name)),
        };
        FileError {
            line,
            message: error.to_string(),
        }
    })
}

fn patterns(spec: BTreeMap<String, Patterns>) -> BTreeMap<String, Vec<String>> {
    spec.into_iter()
        .map(|(field, patterns)| {
            let list = match patterns {
                Patterns::One(one) => vec![one],
                Patterns::Any(many) => many,
            };
            (field, list)
        })
        .collect()
}

fn once_per(spec: Option<OncePerSpec>) -> Result<Option<OncePer>, String> {
    let Some(spec) = spec else { return Ok(None) };
    if spec.fields.is_empty() {
        return Err("fields: name at least one field".into());
    }
    let window = humantime::parse_duration(&spec.window)
        .map_err(|error| format!("window {:?}: {error}", spec.window))?;
    if window.is_zero() {
        return Err("window: must be longer than zero".into());
    }
    Ok(Some(OncePer {
        fields: spec.fields,
        window,
    }))
}

/// The key of a Standard Webhooks secret: the bytes base64-encoded after
/// `whsec_`.
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let encoded = secret.trim().strip_prefix("whsec_")?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .filter(|key| !key.is_empty())
}

/// Names the file may not set: they hold secrets.
pub fn is_secret_name(name: &str) -> bool {
    [
        "_KEY",
        "_KEYS",
        "_TOKEN",
        "_SECRET",
        "_PASSWORD",
        "_WEB_HOOK",
    ]
    .iter()
    .any(|suffix| name.ends_with(suffix))
        || name == "DB_URL"
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(text: &str) -> OperatorConfig {
        let env = Env::from_map([("HOOK".to_owned(), "https://hooks.example/a".to_owned())].into());
        OperatorConfig::parse(text, &env).unwrap()
    }

    #[test]
    fn only_replaces_the_built_in_channels_and_never_takes_channels_out() {
        let config = config(
            r##"
[[routes]]
name = "prod"
when = { cluster = "active" }
slack_channels = ["#prod", "#general"]
only = true

[[routes]]
name = "quiet"
never_channels = ["#general"]
"##,
        );
        let built_in = vec!["#team".to_owned(), "#general".to_owned()];
        let active = json!({"cluster": "active"});
        assert_eq!(
            config.slack_channels(EventKind::Deployment, &active, built_in.clone()),
            ["#prod"]
        );
        let stage = json!({"cluster": "stage"});
        assert_eq!(
            config.slack_channels(EventKind::Deployment, &stage, built_in.clone()),
            ["#team"]
        );
        assert_eq!(
            config.without_never_channels(EventKind::Error, &stage, built_in),
            ["#team"]
        );
    }

    #[test]
    fn a_routed_webhook_takes_only_what_a_route_names() {
        let config = config(
            r#"
[[routes]]
name = "errors of kth apps"
kinds = ["error"]
when = { applicationName = ["kth-*", "lms-?"] }
webhooks = ["ops"]

[[webhooks]]
name = "ops"
url_env = "HOOK"
routed = true

[[webhooks]]
name = "all"
url = "https://hooks.example/all"
kinds = ["deployment"]
when = { importance = "high" }
"#,
        );
        let ops = config.webhook("ops").unwrap();
        let all = config.webhook("all").unwrap();
        let kth = json!({"applicationName": "kth-web"});
        let lms = json!({"applicationName": "lms-a"});
        let other = json!({"applicationName": "other"});
        assert!(config.webhook_takes(ops, EventKind::Error, &kth));
        assert!(config.webhook_takes(ops, EventKind::Error, &lms));
        assert!(!config.webhook_takes(ops, EventKind::Error, &other));
        assert!(!config.webhook_takes(ops, EventKind::Deployment, &kth));
        assert!(config.webhook_takes(all, EventKind::Deployment, &json!({"importance": "high"})));
        assert!(!config.webhook_takes(all, EventKind::Deployment, &json!({"importance": "low"})));
        assert!(!config.webhook_takes(all, EventKind::Error, &json!({"importance": "high"})));
        // The URL from the environment is a secret the redactor knows.
        assert_eq!(config.secret_variables(), ["HOOK"]);
    }

    #[test]
    fn once_per_claims_name_the_routed_subscriber_and_the_routes_webhooks() {
        let config = config(
            r#"
[[routes]]
name = "versions"
once_per = { fields = ["applicationName", "version"], window = "1h" }
webhooks = ["ops"]

[[webhooks]]
name = "ops"
url = "https://hooks.example/ops"
routed = true
"#,
        );
        let event = json!({"applicationName": "a", "version": "1"});
        let claims = config.once_per_claims(EventKind::Deployment, &event, &["slack-deployment"]);
        assert_eq!(
            claims,
            [OnceClaim {
                key: "route versions: a\u{1f}1".into(),
                window: Duration::from_secs(3600),
                subscribers: vec!["slack-deployment".into(), "webhook-ops".into()],
            }]
        );
    }

    #[test]
    fn a_secret_header_must_come_from_the_environment() {
        let env = Env::default();
        let error = OperatorConfig::parse(
            "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\nheaders = { Authorization = \"Bearer x\" }\n",
            &env,
        )
        .unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("headers_env"), "{error}");
    }
}

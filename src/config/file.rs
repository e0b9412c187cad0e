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
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::reading::{ReadLimits, read_operator_file};
use super::secret_text::find_secret;
use super::variables::{self, FileUse};
use super::{Env, HttpUrl, Secret};

/// The operator configuration in force, as every reader sees it: the
/// registry owns the sender and replaces it on a reload.
pub type OperatorView = tokio::sync::watch::Receiver<std::sync::Arc<OperatorConfig>>;
pub use crate::domain::matching::{Conditions, Matcher};
use crate::domain::{Destination, EventKind, PlannedDestination};
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

/// The file as written, each part with its place in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    settings: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    #[serde(default)]
    templates: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    webhooks: Vec<WebhookSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    name: Spanned<String>,
    #[serde(default)]
    kinds: Vec<EventKind>,
    #[serde(default)]
    when: BTreeMap<Spanned<String>, Spanned<Patterns>>,
    #[serde(default)]
    slack_channels: Vec<Spanned<String>>,
    #[serde(default)]
    only: bool,
    #[serde(default)]
    never_channels: Vec<Spanned<String>>,
    #[serde(default)]
    webhooks: Vec<Spanned<String>>,
    once_per: Option<Spanned<OncePerSpec>>,
}

/// One pattern or a list of them; each of a list keeps its own place, so
/// a bad glob is reported at its line.
#[derive(Debug)]
enum Patterns {
    One(String),
    Any(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Patterns;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a pattern or a list of patterns")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Patterns, E> {
                Ok(Patterns::One(value.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Patterns, A::Error> {
                let mut all = Vec::new();
                while let Some(pattern) = seq.next_element::<Spanned<String>>()? {
                    all.push(pattern);
                }
                Ok(Patterns::Any(all))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
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
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    url_env: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    /// Values that are no secret (the file is checked for secrets).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Headers whose values are secrets: header name → the variable.
    #[serde(default)]
    headers_env: BTreeMap<String, Spanned<String>>,
    body: Option<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<EventKind>,
    #[serde(default)]
    when: BTreeMap<Spanned<String>, Spanned<Patterns>>,
    #[serde(default)]
    routed: bool,
    secret_env: Option<Spanned<String>>,
    once_per: Option<Spanned<OncePerSpec>>,
    rate_limit: Option<Spanned<String>>,
}

/// Line numbers of byte offsets, from one pass over the text.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Lines(starts)
    }

    /// The 1-based line of a byte offset.
    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|start| *start <= offset)
    }

    fn at<T>(&self, spanned: &Spanned<T>) -> Option<usize> {
        Some(self.of(spanned.span().start))
    }
}

/// Where a template's text starts: the file line of its first line, and
/// whether its lines are the file's (a multi-line string) or it sits on
/// one line.
#[derive(Debug, Clone, Copy)]
struct TemplateOrigin {
    first_line: usize,
    multi_line: bool,
}

impl TemplateOrigin {
    fn of(text: &str, lines: &Lines, value: &Spanned<String>) -> Self {
        let start = value.span().start;
        let raw = text.get(start..).unwrap_or_default();
        let multi_line = raw.starts_with("'''") || raw.starts_with("\"\"\"");
        // A newline right after the opening delimiter is not part of it.
        let skipped = multi_line && (raw[3..].starts_with('\n') || raw[3..].starts_with("\r\n"));
        TemplateOrigin {
            first_line: lines.of(start) + usize::from(skipped),
            multi_line,
        }
    }

    /// The file line of the template's own line `line`.
    fn line(&self, line: Option<usize>) -> usize {
        match line {
            Some(line) if self.multi_line && line > 0 => self.first_line + line - 1,
            _ => self.first_line,
        }
    }
}

/// A setting's name shown in an error: escaped, and cut when long.
fn shown(name: &str) -> String {
    const MOST: usize = 60;
    let mut text: String = name
        .chars()
        .take(MOST)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if name.chars().count() > MOST {
        text.push('…');
    }
    text
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

    /// Validates a file's text, in time linear in its size; every error
    /// names the line of what it is about (from the parser's spans).
    pub fn parse(text: &str, env: &Env) -> Result<Self, FileError> {
        let lines = Lines::new(text);
        let at = |line: Option<usize>, message: String| FileError { line, message };
        let syntax = |error: toml::de::Error| FileError {
            line: error.span().map(|span| lines.of(span.start)),
            message: error.message().to_owned(),
        };
        let document = toml::de::DeTable::parse(text).map_err(syntax)?;
        if let Some(found) = find_secret(document.get_ref()) {
            return Err(at(Some(lines.of(found.at)), found.message));
        }
        let spec = FileSpec::deserialize(toml::de::Deserializer::from(document)).map_err(syntax)?;

        let mut settings = BTreeMap::new();
        for (name, value) in spec.settings {
            let line = lines.at(&name);
            setting_allowed(name.get_ref()).map_err(|message| at(line, message))?;
            let value = match value.into_inner() {
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
                    return Err(at(
                        line,
                        format!(
                            "settings.{}: expected a value, not a {}",
                            name.get_ref(),
                            other.type_str()
                        ),
                    ));
                }
            };
            settings.insert(name.into_inner(), value);
        }

        let mut templates_source = BTreeMap::new();
        let mut origins = BTreeMap::new();
        for (name, source) in spec.templates {
            if !crate::templates::BUILT_IN
                .iter()
                .any(|(n, _)| n == name.get_ref())
            {
                return Err(at(
                    lines.at(&name),
                    format!(
                        "templates.{}: no such template (the built-in ones are {})",
                        shown(name.get_ref()),
                        crate::templates::BUILT_IN
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            origins.insert(
                name.get_ref().clone(),
                TemplateOrigin::of(text, &lines, &source),
            );
            templates_source.insert(name.into_inner(), source.into_inner());
        }

        let mut webhooks = Vec::new();
        let mut webhook_lines: HashMap<String, usize> = HashMap::new();
        for spec in spec.webhooks {
            let name = spec.name.get_ref().clone();
            let name_line = lines.at(&spec.name);
            let fail = |message: String| at(name_line, message);
            if !valid_name(&name) {
                return Err(fail(format!(
                    "webhooks: the name \"{}\" must be lower-case letters, digits and dashes",
                    shown(&name)
                )));
            }
            if let Some(first) =
                webhook_lines.insert(name.clone(), lines.of(spec.name.span().start))
            {
                return Err(fail(format!(
                    "webhooks: {name} is named twice (first on line {first})"
                )));
            }
            // The variables a webhook names hold its own secrets, never
            // Alvares's (a file could otherwise send SLACK_TOKEN anywhere).
            let own_variable = |what: &str, variable: &Spanned<String>| {
                if variables::variable(variable.get_ref()).is_some() {
                    Err(at(
                        lines.at(variable),
                        format!(
                            "webhook {name}: {what} names {}, one of Alvares's own variables: \
                             give the webhook a variable of its own",
                            variable.get_ref()
                        ),
                    ))
                } else {
                    Ok(())
                }
            };
            let (url, url_source, url_line) = match (&spec.url, &spec.url_env) {
                (Some(url), None) => (url.get_ref().clone(), url.get_ref().clone(), lines.at(url)),
                (None, Some(variable)) => {
                    own_variable("url_env", variable)?;
                    let value = env.get(variable.get_ref()).ok_or_else(|| {
                        at(
                            lines.at(variable),
                            format!(
                                "webhook {name}: url_env names {}, which is not set",
                                variable.get_ref()
                            ),
                        )
                    })?;
                    (
                        value.to_owned(),
                        format!("${}", variable.get_ref()),
                        lines.at(variable),
                    )
                }
                _ => {
                    return Err(fail(format!(
                        "webhook {name}: give url or url_env (one of them)"
                    )));
                }
            };
            if url.parse::<HttpUrl>().is_err() {
                return Err(at(
                    url_line,
                    format!("webhook {name}: the URL ({url_source}) is not an http(s) URL"),
                ));
            }
            let method = match &spec.method {
                None => "POST".to_owned(),
                Some(method) => {
                    let upper = method.get_ref().to_ascii_uppercase();
                    if !["POST", "PUT", "PATCH"].contains(&upper.as_str()) {
                        return Err(at(
                            lines.at(method),
                            format!("webhook {name}: method must be POST, PUT or PATCH"),
                        ));
                    }
                    upper
                }
            };
            let secret = match &spec.secret_env {
                None => None,
                Some(variable) => {
                    own_variable("secret_env", variable)?;
                    let line = lines.at(variable);
                    let variable = variable.get_ref();
                    let value = env.get(variable).ok_or_else(|| {
                        at(
                            line,
                            format!(
                                "webhook {name}: secret_env names {variable}, which is not set"
                            ),
                        )
                    })?;
                    if signing_key(value).is_none() {
                        return Err(at(
                            line,
                            format!(
                                "webhook {name}: {variable} must be a whsec_ secret (base64 after \
                                 the prefix)"
                            ),
                        ));
                    }
                    Some(Secret::new(value.to_owned()))
                }
            };
            let mut headers = spec.headers.clone();
            for (header, variable) in &spec.headers_env {
                own_variable(&format!("headers_env.{header}"), variable)?;
                let value = env.get(variable.get_ref()).ok_or_else(|| {
                    at(
                        lines.at(variable),
                        format!(
                            "webhook {name}: headers_env.{header} names {}, which is not set",
                            variable.get_ref()
                        ),
                    )
                })?;
                headers.insert(header.clone(), value.to_owned());
            }
            let template = crate::templates::webhook_template_name(&name);
            let body = match &spec.body {
                Some(body) => {
                    origins.insert(template.clone(), TemplateOrigin::of(text, &lines, body));
                    body.get_ref().clone()
                }
                None => DEFAULT_WEBHOOK_BODY.to_owned(),
            };
            templates_source.insert(template.clone(), body);
            let rate_limit = match &spec.rate_limit {
                None => None,
                Some(limit) => Some(limit.get_ref().parse().map_err(|error: String| {
                    at(
                        lines.at(limit),
                        format!("webhook {name}: rate_limit: {error}"),
                    )
                })?),
            };
            let when = conditions(spec.when, &lines)
                .map_err(|(line, e)| at(line.or(name_line), format!("webhook {name}: when.{e}")))?;
            let once_per = once_per(spec.once_per, &lines)
                .map_err(|(line, e)| at(line, format!("webhook {name}: once_per: {e}")))?;
            webhooks.push(Webhook {
                id: format!("webhook-{name}"),
                url: Secret::new(url),
                url_source,
                method,
                headers,
                header_variables: spec
                    .headers_env
                    .values()
                    .map(|v| v.get_ref().clone())
                    .collect(),
                template,
                kinds: spec.kinds,
                when,
                routed: spec.routed,
                secret,
                secret_env: spec.secret_env.map(Spanned::into_inner),
                once_per,
                rate_limit,
                name,
            });
        }

        let mut routes = Vec::with_capacity(spec.routes.len());
        let mut route_lines: HashMap<String, usize> = HashMap::with_capacity(spec.routes.len());
        for spec in spec.routes {
            let name = spec.name.get_ref().clone();
            let name_line = lines.at(&spec.name);
            if let Some(first) = route_lines.insert(name.clone(), lines.of(spec.name.span().start))
            {
                return Err(at(
                    name_line,
                    format!(
                        "routes: {} is named twice (first on line {first})",
                        shown(&name)
                    ),
                ));
            }
            for webhook in &spec.webhooks {
                if !webhook_lines.contains_key(webhook.get_ref()) {
                    return Err(at(
                        lines.at(webhook),
                        format!(
                            "route {name}: no webhook is named {}",
                            shown(webhook.get_ref())
                        ),
                    ));
                }
            }
            for channel in spec.slack_channels.iter().chain(&spec.never_channels) {
                if channel.get_ref().trim().is_empty() {
                    return Err(at(
                        lines.at(channel),
                        format!("route {name}: an empty channel"),
                    ));
                }
            }
            let when = conditions(spec.when, &lines)
                .map_err(|(line, e)| at(line.or(name_line), format!("route {name}: when.{e}")))?;
            let once_per = once_per(spec.once_per, &lines)
                .map_err(|(line, e)| at(line, format!("route {name}: once_per: {e}")))?;
            routes.push(Route {
                name,
                kinds: spec.kinds,
                when,
                slack_channels: spec
                    .slack_channels
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                only: spec.only,
                never_channels: spec
                    .never_channels
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                webhooks: spec.webhooks.into_iter().map(Spanned::into_inner).collect(),
                once_per,
            });
        }

        let templates = Templates::compile(&templates_source).map_err(|error| FileError {
            // The template's own line, counted from where its text starts.
            line: origins
                .get(&error.name)
                .map(|origin| origin.line(error.line)),
            message: error.to_string(),
        })?;
        check_templates(&templates, &webhooks, &origins)?;
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

    /// The channels of an event's Slack message, each with where it came
    /// from: the subscriber's own choice (`built_in`), then, for the
    /// kind's main message (`routed`), each matching route's channels not
    /// already there (none of the built-in when a route says `only`);
    /// less every matching route's `never_channels`, which apply to every
    /// Slack message.
    pub fn planned_slack_channels(
        &self,
        kind: EventKind,
        event: &Value,
        routed: bool,
        built_in: Vec<String>,
    ) -> Vec<PlannedDestination> {
        let routes: Vec<&Route> = self.routes_for(kind, event).collect();
        let slack = |channel: String| Destination::Slack { channel };
        let mut channels: Vec<PlannedDestination> = if routed && routes.iter().any(|r| r.only) {
            Vec::new()
        } else {
            built_in
                .into_iter()
                .map(|c| PlannedDestination::own(slack(c)))
                .collect()
        };
        for route in routes.iter().filter(|_| routed) {
            for channel in &route.slack_channels {
                let named = slack(channel.clone());
                match channels.iter_mut().find(|c| c.destination == named) {
                    Some(known) => known.routes.push(route.name.clone()),
                    None => channels.push(PlannedDestination {
                        destination: named,
                        own: false,
                        routes: vec![route.name.clone()],
                    }),
                }
            }
        }
        channels.retain(|planned| {
            !routes.iter().any(|r| {
                r.never_channels
                    .iter()
                    .any(|never| planned.destination == slack(never.clone()))
            })
        });
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

    /// A webhook's destination for an event, when it gets it: its own
    /// (not `routed`, its `when` holds) and/or added by the routes naming
    /// it.
    pub fn planned_webhook(
        &self,
        webhook: &Webhook,
        kind: EventKind,
        event: &Value,
    ) -> Vec<PlannedDestination> {
        if !webhook.takes(kind) {
            return Vec::new();
        }
        let own = !webhook.routed && webhook.when.match_event(kind, event, None);
        let routes: Vec<String> = self
            .routes_for(kind, event)
            .filter(|route| route.webhooks.contains(&webhook.name))
            .map(|route| route.name.clone())
            .collect();
        if !own && routes.is_empty() {
            return Vec::new();
        }
        vec![PlannedDestination {
            destination: Destination::Webhook {
                name: webhook.name.clone(),
                method: webhook.method.clone(),
                url: webhook.url_source.clone(),
            },
            own,
            routes,
        }]
    }

    /// The noise-control claims an event makes: for each matching route
    /// with `once_per`, its key over what the route adds (its channels and
    /// webhooks), or over the kind's main message (`routed`) when it adds
    /// nothing; for each webhook with `once_per`, its key over that
    /// webhook.
    pub fn once_per_claims(
        &self,
        kind: EventKind,
        event: &Value,
        routed: &[&'static str],
    ) -> Vec<OnceClaim> {
        let mut claims = Vec::new();
        for route in self.routes_for(kind, event) {
            if let Some(once) = &route.once_per {
                let adds = !route.slack_channels.is_empty() || !route.webhooks.is_empty();
                claims.push(OnceClaim {
                    key: format!("route {}: {}", route.name, once.key(event)),
                    window: once.window,
                    subscribers: if adds {
                        Vec::new()
                    } else {
                        routed.iter().map(|s| (*s).to_owned()).collect()
                    },
                    route: adds.then(|| route.name.clone()),
                });
            }
        }
        for webhook in &self.webhooks {
            if let Some(once) = &webhook.once_per {
                claims.push(OnceClaim {
                    key: format!("webhook {}: {}", webhook.name, once.key(event)),
                    window: once.window,
                    subscribers: vec![webhook.id.clone()],
                    route: None,
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

/// Whether the file's `[settings]` may give `name`: a variable Alvares
/// reads (exactly so named) that holds no secret and sends none anywhere.
fn setting_allowed(name: &str) -> Result<(), String> {
    let refusal = |variable: &variables::Variable| match variable.file {
        FileUse::Allowed => None,
        FileUse::Secret => Some(format!(
            "{} is a secret: set it in the environment, not in the file",
            variable.name
        )),
        FileUse::ReceivesSecret(why) | FileUse::EnvironmentOnly(why) => Some(format!(
            "{} can only be set in the environment: {why}",
            variable.name
        )),
    };
    match variables::variable(name) {
        Some(variable) => refusal(variable).map_or(Ok(()), Err),
        None => Err(match variables::nearest(name) {
            Some(nearest) => format!(
                "unknown setting `{}`; did you mean `{}`?{}",
                shown(name),
                nearest.name,
                refusal(nearest)
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default()
            ),
            None => format!(
                "unknown setting `{}`: not a variable Alvares reads (names are exact, as in the \
                 README's configuration table)",
                shown(name)
            ),
        }),
    }
}

/// Renders every template against the sample events of the kinds it is
/// used for (see `templates::samples`): one that reaches a limit or fails
/// is refused, naming it and its line in the file.
fn check_templates(
    templates: &Templates,
    webhooks: &[Webhook],
    origins: &BTreeMap<String, TemplateOrigin>,
) -> Result<(), FileError> {
    let uses: Vec<TemplateUse> = webhooks
        .iter()
        .map(|webhook| TemplateUse {
            name: webhook.template.clone(),
            kinds: webhook.kinds.clone(),
        })
        .collect();
    templates.check_against_samples(&uses).map_err(|error| {
        FileError {
            // The template's own line, counted from where its text starts.
            line: origins
                .get(&error.name)
                .map(|origin| origin.line(error.line)),
            message: error.to_string(),
        }
    })
}

/// `when` conditions, each glob checked at its own line.
fn conditions(
    spec: BTreeMap<Spanned<String>, Spanned<Patterns>>,
    lines: &Lines,
) -> Result<Conditions, (Option<usize>, String)> {
    let mut plain = BTreeMap::new();
    for (field, patterns) in spec {
        let field_line = lines.at(&field);
        let field = field.into_inner();
        let value_line = lines.at(&patterns);
        let list: Vec<(Option<usize>, String)> = match patterns.into_inner() {
            Patterns::One(one) => vec![(value_line, one)],
            Patterns::Any(many) => many
                .into_iter()
                .map(|p| (lines.at(&p), p.into_inner()))
                .collect(),
        };
        for (line, pattern) in &list {
            if let Err(error) = glob::Pattern::new(pattern) {
                return Err((*line, format!("{field}: pattern {pattern:?}: {error}")));
            }
        }
        if list.is_empty() {
            return Err((
                value_line.or(field_line),
                format!("{field}: give at least one value"),
            ));
        }
        plain.insert(field, list.into_iter().map(|(_, p)| p).collect::<Vec<_>>());
    }
    Conditions::parse(&plain).map_err(|error| (None, error))
}

fn once_per(
    spec: Option<Spanned<OncePerSpec>>,
    lines: &Lines,
) -> Result<Option<OncePer>, (Option<usize>, String)> {
    let Some(spec) = spec else { return Ok(None) };
    let line = lines.at(&spec);
    let spec = spec.into_inner();
    if spec.fields.is_empty() {
        return Err((line, "fields: name at least one field".into()));
    }
    let window = humantime::parse_duration(&spec.window)
        .map_err(|error| (line, format!("window {:?}: {error}", spec.window)))?;
    if window.is_zero() {
        return Err((line, "window: must be longer than zero".into()));
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
        let channels = |event: &Value, routed: bool, built_in: &[String]| -> Vec<String> {
            let planned = config.planned_slack_channels(
                EventKind::Deployment,
                event,
                routed,
                built_in.to_vec(),
            );
            let planned: Vec<Destination> = planned.into_iter().map(|p| p.destination).collect();
            crate::domain::plan::slack_channels(&planned)
        };
        let active = json!({"cluster": "active"});
        assert_eq!(channels(&active, true, &built_in), ["#prod"]);
        let stage = json!({"cluster": "stage"});
        assert_eq!(channels(&stage, true, &built_in), ["#team"]);
        // Not the main message: only never_channels apply.
        assert_eq!(channels(&stage, false, &built_in), ["#team"]);
        assert_eq!(
            channels(&active, false, &built_in),
            ["#team"],
            "only and slack_channels are for the main message"
        );
        // Each channel says where it came from.
        let planned = config.planned_slack_channels(
            EventKind::Deployment,
            &active,
            true,
            vec!["#prod".into()],
        );
        assert_eq!(
            planned,
            [PlannedDestination {
                destination: Destination::Slack {
                    channel: "#prod".into()
                },
                own: false,
                routes: vec!["prod".into()],
            }]
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
        // The route adds a webhook: its rule is over what it adds.
        assert_eq!(
            claims,
            [OnceClaim {
                key: "route versions: a\u{1f}1".into(),
                window: Duration::from_secs(3600),
                subscribers: Vec::new(),
                route: Some("versions".into()),
            }]
        );
        // A route that adds nothing: its rule is over the main message.
        let bare = config_text_without_webhooks();
        assert_eq!(
            bare.once_per_claims(EventKind::Deployment, &event, &["slack-deployment"]),
            [OnceClaim {
                key: "route versions: a\u{1f}1".into(),
                window: Duration::from_secs(3600),
                subscribers: vec!["slack-deployment".into()],
                route: None,
            }]
        );
    }

    fn config_text_without_webhooks() -> OperatorConfig {
        config(
            r#"
[[routes]]
name = "versions"
once_per = { fields = ["applicationName", "version"], window = "1h" }
"#,
        )
    }

    fn refusal(text: &str) -> String {
        let env = Env::from_map(
            [
                ("HOOK".to_owned(), "https://hooks.example/a".to_owned()),
                (
                    "SLACK_TOKEN".to_owned(),
                    "xoxb-from-the-environment".to_owned(),
                ),
            ]
            .into(),
        );
        let error = OperatorConfig::parse(text, &env).unwrap_err();
        error.to_string()
    }

    #[test]
    fn a_secret_header_must_come_from_the_environment() {
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\n\
                 headers = { \"X-Team\" = \"ops\", Authorization = \"Bearer x\" }\n"
            ),
            "line 4: webhooks[0].headers.Authorization is a secret header: give it in \
             headers_env (the variable that holds its value), not in the file"
        );
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\n\n\
                 [webhooks.headers]\nX-Team = \"ops\"\nX-Api-Key = \"k-123\"\n"
            ),
            "line 7: webhooks[0].headers.X-Api-Key is a secret header: give it in \
             headers_env (the variable that holds its value), not in the file"
        );
    }

    #[test]
    fn where_a_secret_is_sent_only_the_environment_says() {
        for (name, why) in [
            ("SLACK_API_BASE_URL", "SLACK_TOKEN is sent there"),
            ("UTR_API_BASE_URL", "UTR_API_KEY is sent there"),
            (
                "DETECTIFY_API_BASE_URL",
                "DETECTIFY_API_KEYS are sent there",
            ),
            ("FLOTTSBRO_API_BASE_URL", "FLOTTSBRO_API_KEY is sent there"),
            (
                "LIGHTHOUSE_COMMAND",
                "the program runs with every secret of the environment",
            ),
            (
                "MAX_CONFIG_BYTES",
                "it bounds the file before the file is read",
            ),
        ] {
            assert_eq!(
                refusal(&format!(
                    "# where\n[settings]\nSLACK_CHANNELS = \"#a\"\n{name} = \"http://elsewhere/\"\n"
                )),
                format!("line 4: {name} can only be set in the environment: {why}")
            );
        }
        assert_eq!(
            refusal("[settings]\nSLACK_TOKEN = \"xoxb-1\"\n"),
            "line 2: SLACK_TOKEN is a secret: set it in the environment, not in the file"
        );
        // Nor may a webhook take Alvares's own secrets elsewhere.
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"http://elsewhere/\"\n\
                 headers_env = { X-Stolen = \"SLACK_TOKEN\" }\n"
            ),
            "line 4: webhook ops: headers_env.X-Stolen names SLACK_TOKEN, one of Alvares's own \
             variables: give the webhook a variable of its own"
        );
        assert_eq!(
            refusal("[[webhooks]]\nname = \"ops\"\n\nurl_env = \"SLACK_TOKEN\"\n"),
            "line 4: webhook ops: url_env names SLACK_TOKEN, one of Alvares's own variables: \
             give the webhook a variable of its own"
        );
    }

    #[test]
    fn a_secret_anywhere_in_the_file_is_refused_without_showing_it() {
        let cases = [
            (
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://hooks.slack.com/services/T1/B2/s3cr3tp4th\"\n",
                "line 3: webhooks[0].url looks like a Slack webhook URL: give it by url_env (the \
                 variable that holds it), not in the file",
            ),
            (
                "[settings]\nslack_token = \"xoxb-1234567890-s3cr3tp4th\"\n",
                "line 2: settings.slack_token looks like a Slack bot token: keep it in the \
                 environment, not in the file",
            ),
            (
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\n\
                 headers = { X-Team = \"Bearer ghp_s3cr3tp4th0123\" }\n",
                "line 4: webhooks[0].headers.X-Team looks like a GitHub token: give it in \
                 headers_env (the variable that holds it), not in the file",
            ),
            (
                "[templates]\nslack-error = '''\n{\"text\": \"see\",\n\"x\": \"xapp-1-A0-s3cr3tp4th\"}'''\n",
                "line 2: templates.slack-error looks like a Slack app token: keep it in the \
                 environment, not in the file",
            ),
            (
                "[[routes]]\nname = \"r\"\nslack_channels = [\"#a\", \"whsec_s3cr3tp4th0123\"]\n",
                "line 3: routes[0].slack_channels[1] looks like a webhook signing secret: keep it \
                 in the environment, not in the file",
            ),
        ];
        for (text, expected) in cases {
            let message = refusal(text);
            assert_eq!(message, expected);
            assert!(!message.contains("s3cr3tp4th"), "{message}");
        }
    }

    #[test]
    fn setting_names_are_exact_and_the_nearest_is_offered() {
        assert_eq!(
            refusal("[settings]\nPORT = 3011\nSLACK_CHANELS = \"#a\"\n"),
            "line 3: unknown setting `SLACK_CHANELS`; did you mean `SLACK_CHANNELS`?"
        );
        assert_eq!(
            refusal("[settings]\nDb_Url = \"/tmp/x.db\"\n"),
            "line 2: unknown setting `Db_Url`; did you mean `DB_URL`? (DB_URL is a secret: set \
             it in the environment, not in the file)"
        );
        let message = refusal("[settings]\nslack_token = \"not-a-token-shape\"\n");
        assert_eq!(
            message,
            "line 2: unknown setting `slack_token`; did you mean `SLACK_TOKEN`? (SLACK_TOKEN is \
             a secret: set it in the environment, not in the file)"
        );
        assert!(!message.contains("not-a-token-shape"));
        assert_eq!(
            refusal("[settings]\nWHATEVER_ELSE_ENTIRELY = 1\n"),
            "line 2: unknown setting `WHATEVER_ELSE_ENTIRELY`: not a variable Alvares reads \
             (names are exact, as in the README's configuration table)"
        );
        let config = config("[settings]\nSLACK_CHANNELS = [\"#a\", \"#b\"]\nPORT = 3011\n");
        assert_eq!(config.settings["SLACK_CHANNELS"], "#a,#b");
        assert_eq!(config.settings["PORT"], "3011");
    }

    #[test]
    fn lines_are_where_the_problem_is() {
        // A duplicate webhook at the duplicate, not at the first.
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/a\"\n\n\
                 [[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/b\"\n"
            ),
            "line 6: webhooks: ops is named twice (first on line 2)"
        );
        // A duplicate route likewise.
        assert_eq!(
            refusal(
                "[[routes]]\nname = \"a\"\n[[routes]]\nname = \"b\"\n[[routes]]\nname = \"a\"\n"
            ),
            "line 6: routes: a is named twice (first on line 2)"
        );
        // A bad glob at its own line, in a list over several lines.
        assert_eq!(
            refusal(
                "[[routes]]\nname = \"apps\"\n[routes.when]\napplicationName = [\n  \"kth-*\",\n  \"lms-[\",\n]\n"
            ),
            "line 6: route apps: when.applicationName: pattern \"lms-[\": Pattern syntax error \
             near position 4: invalid range pattern"
        );
        // A missing webhook at the reference, a bad window at once_per.
        assert_eq!(
            refusal("[[routes]]\nname = \"r\"\nkinds = [\"error\"]\nwebhooks = [\n\"nope\"]\n"),
            "line 5: route r: no webhook is named nope"
        );
        assert_eq!(
            refusal(
                "[[routes]]\nname = \"r\"\n\nonce_per = { fields = [\"version\"], window = \"0s\" }\n"
            ),
            "line 4: route r: once_per: window: must be longer than zero"
        );
        // A template's own line, counted from where its text starts.
        assert!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\nbody = '''\n{\n\"a\": {{ id }\n}'''\n"
            )
            .starts_with("line 6: template webhook:ops line 2: "),
        );
    }

    #[test]
    fn a_large_file_is_validated_with_exact_lines_to_its_end() {
        let mut text = String::new();
        for n in 0..20_000 {
            text.push_str(&format!(
                "[[routes]]\nname = \"route {n}\"\nkinds = [\"deployment\"]\n\
                 when = {{ applicationName = \"app-{n}-*\", cluster = [\"active\", \"stage\"] }}\n\
                 slack_channels = [\"#team-{n}\"]\n\n"
            ));
        }
        let config = config(&text);
        assert_eq!(config.routes.len(), 20_000);
        assert_eq!(config.routes[19_999].name, "route 19999");
        text.push_str("[[routes]]\nname = \"route 7\"\n");
        assert_eq!(
            refusal(&text),
            "line 120002: routes: route 7 is named twice (first on line 44)"
        );
    }
}

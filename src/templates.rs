//! Message templates, in Jinja syntax (minijinja: sandboxed, no I/O).
//!
//! Every Slack message and every webhook body is rendered from a template.
//! A Slack template renders a JSON object — the message's fields
//! (`text`, `username`, `icon_emoji`, `attachments`, or Block Kit `blocks`)
//! without `channel`, which is set per channel; use the `tojson` filter for
//! values. The built-in templates produce exactly the messages BEHAVIOUR.md
//! describes; an operator replaces any of them in the configuration file.
//!
//! What a template sees: `event` (the enriched event as JSON, as stored),
//! `id`, `kind`, `received_at` (RFC 3339), and what its subscriber computes
//! (`logs_url` and `change` for slack-deployment — `change.kind` is
//! `first`, `redeploy` or `upgrade`, with `previous_version`, `ran_for` and
//! `text`, null when unknown —, `pipeline_url`, `monitor`). Undefined values are
//! errors (a missing field fails the delivery, naming the template's line),
//! except under `is defined` and `default`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

mod limits;
mod samples;

pub use limits::{
    Limit, TEMPLATE_FUEL, TEMPLATE_MAX_BYTES, TEMPLATE_RECURSION_LIMIT, TEMPLATE_TIME_LIMIT,
};
pub use samples::TemplateUse;

/// The templates an operator can replace, with their built-in sources.
pub const BUILT_IN: [(&str, &str); 5] = [
    ("application-endpoint", APPLICATION_ENDPOINT),
    ("slack-deployment", SLACK_DEPLOYMENT),
    ("slack-error", SLACK_ERROR),
    ("slack-recommendation", SLACK_RECOMMENDATION),
    ("uptimerobot", UPTIMEROBOT),
];

/// A webhook's body unless its definition says otherwise.
pub const DEFAULT_WEBHOOK_BODY: &str = "{{ event | tojson }}";

const SLACK_DEPLOYMENT: &str = r##"{
  "text": {{ ("*" ~ event.applicationName ~ "* deployed in *" ~ event.cluster ~ "*") | tojson }},
  "username": "Cluster Deployment",
  "icon_emoji": ":azure:",
  "attachments": [{
    "fallback": "Your client does not support attachments :(",
    "color": "#aec90c",
    "author_name": ":mag: Search Logs",
    "author_link": {{ logs_url | tojson }},
    "title": {{ ("se.kth.imageName: " ~ event.applicationName) | tojson }},
    "text": {{ ("se.kth.imageVersion: " ~ (event.version | default(""))) | tojson }}
    {%- if change is defined and change %},
    "footer": {{ change.text | tojson }}
    {%- endif %}
  }]
}"##;

const APPLICATION_ENDPOINT: &str = r#"{
  "text": {{ (":information_source: About *" ~ (event.friendlyName or event.applicationName) ~ "* " ~ pipeline_url ~ " in *" ~ event.cluster ~ "*") | tojson }},
  "username": "Alvares",
  "icon_emoji": ":azure:"
}"#;

const SLACK_ERROR: &str = r#"{%- if event.stackTrace is defined and event.stackTrace -%}
{%- set text = "*" ~ event.message ~ "* ```\n" ~ event.stackTrace ~ "\n```" -%}
{%- else -%}
{%- set text = event.message -%}
{%- endif -%}
{
  "text": {{ text | tojson }},
  "username": "Alvares Error",
  "icon_emoji": ":no_entry:"
}"#;

const SLACK_RECOMMENDATION: &str = r#"{
  "text": {{ event.message | tojson }},
  "username": "Alvares",
  "icon_emoji": ":female_student:"
}"#;

const UPTIMEROBOT: &str = r#"{
  "text": {{ (":uptime:  *" ~ monitor.friendly_name ~ "* in *" ~ event.cluster ~ "* is monitored using " ~ monitor.url) | tojson }},
  "username": "Alvares",
  "icon_emoji": ":azure:"
}"#;

/// `tojson` that refuses an undefined value: the built-in one writes
/// `null`, which would send a message with a hole in it instead of failing
/// the delivery with the template's line.
fn strict_tojson(value: minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            "a value passed to tojson is undefined",
        ));
    }
    let text = serde_json::to_string(&value).map_err(|error| {
        minijinja::Error::new(minijinja::ErrorKind::BadSerialization, error.to_string())
    })?;
    Ok(minijinja::Value::from_safe_string(text))
}

/// A template that failed, where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {name}{}: {detail}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TemplateError {
    pub name: String,
    pub line: Option<usize>,
    pub detail: String,
    pub failure: Failure,
}

/// Why a template failed, as far as its callers act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It reached one of its limits, whatever the event.
    Reached(Limit),
    /// It used a value the event does not have.
    Undefined,
    /// Anything else: it does not compile, renders invalid JSON, applies
    /// an operation to the wrong type…
    Broken,
}

impl TemplateError {
    fn of(name: &str, error: &minijinja::Error) -> Self {
        TemplateError {
            name: name.to_owned(),
            line: error.line(),
            detail: error
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| error.kind().to_string()),
            failure: if error.kind() == minijinja::ErrorKind::UndefinedError {
                Failure::Undefined
            } else {
                Failure::Broken
            },
        }
    }

    fn reached(name: &str, line: Option<usize>, limit: Limit, time_limit: Duration) -> Self {
        TemplateError {
            name: name.to_owned(),
            line,
            detail: limit.describe(time_limit),
            failure: Failure::Reached(limit),
        }
    }

    /// A render that stopped without an answer (it panicked).
    fn stopped(name: &str) -> Self {
        TemplateError {
            name: name.to_owned(),
            line: None,
            detail: "the render stopped without an answer".into(),
            failure: Failure::Broken,
        }
    }
}

/// The compiled templates in force: the built-ins, with the operator's
/// replacements and webhook bodies. Cheap to share.
#[derive(Clone)]
pub struct Templates {
    environment: Arc<Environment<'static>>,
    /// Names the operator replaced or added, for showing what is in force.
    replaced: Vec<String>,
    /// How long a caller waits for one render.
    time_limit: Duration,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Templates(replaced: {:?})", self.replaced)
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::compile(&BTreeMap::new()).expect("the built-in templates compile")
    }
}

impl Templates {
    /// The built-ins, with `replacements` (name → source) over them. A
    /// template that does not compile is an error naming it and its line.
    pub fn compile(replacements: &BTreeMap<String, String>) -> Result<Self, TemplateError> {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        // Templates render JSON and text, never HTML.
        environment.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        environment.add_filter("tojson", strict_tojson);
        limits::limit(&mut environment);
        let mut sources: BTreeMap<String, String> = BUILT_IN
            .iter()
            .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
            .collect();
        for (name, source) in replacements {
            sources.insert(name.clone(), source.clone());
        }
        for (name, source) in sources {
            environment
                .add_template_owned(name.clone(), source)
                .map_err(|error| TemplateError::of(&name, &error))?;
        }
        Ok(Templates {
            environment: Arc::new(environment),
            replaced: replacements.keys().cloned().collect(),
            time_limit: TEMPLATE_TIME_LIMIT,
        })
    }

    /// The same templates, with callers waiting at most `limit` for a
    /// render (instead of [`TEMPLATE_TIME_LIMIT`]).
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    pub fn replaced(&self) -> &[String] {
        &self.replaced
    }

    pub fn has(&self, name: &str) -> bool {
        self.environment.get_template(name).is_ok()
    }

    /// Renders `name` with `context`, within the limits (see [`limits`]):
    /// this thread waits at most [`TEMPLATE_TIME_LIMIT`]. For previews and
    /// checks; a delivery uses [`Self::render_async`].
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<String, TemplateError> {
        let (sender, answer) = std::sync::mpsc::sync_channel(1);
        limits::render_apart(
            &self.environment,
            name,
            minijinja::Value::from_serialize(context),
            move |result| {
                let _ = sender.send(result);
            },
        );
        match answer.recv_timeout(self.time_limit) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(TemplateError::reached(
                name,
                None,
                Limit::Time,
                self.time_limit,
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(TemplateError::stopped(name))
            }
        }
    }

    /// [`Self::render`] without blocking this thread: a subscriber's actor
    /// goes on with its other work (and its timers) meanwhile.
    pub async fn render_async(
        &self,
        name: &str,
        context: &impl Serialize,
    ) -> Result<String, TemplateError> {
        let (sender, answer) = tokio::sync::oneshot::channel();
        limits::render_apart(
            &self.environment,
            name,
            minijinja::Value::from_serialize(context),
            move |result| {
                let _ = sender.send(result);
            },
        );
        match tokio::time::timeout(self.time_limit, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(TemplateError::stopped(name)),
            Err(_) => Err(TemplateError::reached(
                name,
                None,
                Limit::Time,
                self.time_limit,
            )),
        }
    }

    /// Renders `name` into a JSON object (a Slack message's fields).
    pub fn render_json(
        &self,
        name: &str,
        context: &impl Serialize,
    ) -> Result<serde_json::Map<String, serde_json::Value>, TemplateError> {
        json_object(name, &self.render(name, context)?)
    }

    /// [`Self::render_json`] without blocking this thread.
    pub async fn render_json_async(
        &self,
        name: &str,
        context: &impl Serialize,
    ) -> Result<serde_json::Map<String, serde_json::Value>, TemplateError> {
        json_object(name, &self.render_async(name, context).await?)
    }

    /// Renders every template against sample events of the kinds it is
    /// used for (see [`samples`]); the first that fails is the error.
    pub fn check_against_samples(&self, uses: &[TemplateUse]) -> Result<(), TemplateError> {
        samples::check(self, uses)
    }
}

/// A Slack template's output as the message's fields.
fn json_object(
    name: &str,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, TemplateError> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(TemplateError {
            name: name.to_owned(),
            line: None,
            detail: "it must render a JSON object".into(),
            failure: Failure::Broken,
        }),
        Err(error) => Err(TemplateError {
            name: name.to_owned(),
            line: Some(error.line()),
            detail: format!("it rendered invalid JSON ({error})"),
            failure: Failure::Broken,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_field_is_an_error_naming_the_line() {
        let templates = Templates::default();
        let error = templates
            .render_json("slack-recommendation", &json!({"event": {}}))
            .unwrap_err();
        assert_eq!(error.name, "slack-recommendation");
        assert_eq!(error.line, Some(2));
        assert!(
            error
                .to_string()
                .starts_with("template slack-recommendation line 2: ")
        );
    }

    #[test]
    fn a_replacement_that_does_not_compile_is_refused() {
        let broken = BTreeMap::from([(
            "slack-error".to_owned(),
            "{\n\"text\": {{ event.message | tojson }\n}".to_owned(),
        )]);
        let error = Templates::compile(&broken).unwrap_err();
        assert_eq!(error.name, "slack-error");
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn an_error_with_a_trace_puts_it_in_a_code_block() {
        let fields = Templates::default()
            .render_json(
                "slack-error",
                &json!({"event": {"message": "Build \"failed\"", "stackTrace": "line 1\nline 2"}}),
            )
            .unwrap();
        assert_eq!(
            fields["text"],
            "*Build \"failed\"* ```\nline 1\nline 2\n```"
        );
        let fields = Templates::default()
            .render_json("slack-error", &json!({"event": {"message": "<b>&</b>"}}))
            .unwrap();
        assert_eq!(fields["text"], "<b>&</b>", "no HTML escaping");
    }
}

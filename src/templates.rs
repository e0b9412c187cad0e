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
//!
//! Event text is data, never markup. Every template but a webhook body is
//! a Slack template and renders in the `slack` auto-escape mode: a string
//! from the context is Slack-escaped (`&` → `&amp;`, `<` → `&lt;`,
//! `>` → `&gt;`, nothing else) where it leaves the template — by `tojson`,
//! which escapes every string it writes into JSON (however it was built:
//! `"*" ~ event.applicationName ~ "*"` is one string, all of it escaped),
//! and by `{{ value }}` itself. A string marked safe is written as it is:
//! `| safe` inserts trusted markup, `| slack_escape` escapes a value once
//! (and marks it safe), `slack_link(url, label)` builds a `<url|label>`
//! link (the label escaped, the URL's `<`, `>`, `|` and spaces
//! percent-encoded). Joining with `~` drops the mark (minijinja
//! does), so a text mixing a link and event values is built from escaped
//! parts and marked as a whole:
//! `(slack_link(logs_url, "Logs") ~ " for " ~ (event.applicationName | slack_escape)) | safe | tojson`.
//! URL fields (`author_link`, `image_url`) are not markup: the built-ins
//! write them with `| safe`. `{% autoescape false %}` turns it off for a
//! block. Webhook bodies are JSON for a machine, not Slack markup: nothing
//! is escaped in them. A destination type's templates (`teams-…`) are in
//! its own markup instead of Slack's ([`TemplateMarkup`]): `tojson` and
//! `{{ value }}` escape with the type's escaping (Teams: Markdown), and
//! `| safe` inserts trusted text as it is.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use minijinja::value::ValueKind;
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value,
};
use serde::Serialize;

use crate::domain::{EventKind, slack_text};
mod limits;
mod samples;

pub use limits::{
    Limit, TEMPLATE_FUEL, TEMPLATE_MAX_BYTES, TEMPLATE_RECURSION_LIMIT, TEMPLATE_TIME_LIMIT,
};
pub use samples::TemplateUse;

/// An integration's built-in template, which an operator can replace. It
/// is submitted from the integration's own folder (its `payload.rs`, with
/// `inventory::submit!`), so adding a templated integration touches no
/// file here; its name is the subscriber's id.
pub struct BuiltInTemplate {
    pub name: &'static str,
    /// The kind of events it renders.
    pub kind: EventKind,
    pub source: &'static str,
    /// What its subscriber adds to the context of a sample `event` (see
    /// the module `samples`), beside what every template sees.
    pub sample_values:
        fn(event: &serde_json::Value, context: &mut serde_json::Map<String, serde_json::Value>),
}

inventory::collect!(BuiltInTemplate);

/// Every built-in template, alphabetised by name.
pub fn built_in() -> Vec<&'static BuiltInTemplate> {
    let mut all: Vec<&'static BuiltInTemplate> = inventory::iter::<BuiltInTemplate>().collect();
    all.sort_by_key(|template| template.name);
    all
}

/// The names of the built-in templates, alphabetised.
pub fn built_in_names() -> Vec<&'static str> {
    built_in().iter().map(|template| template.name).collect()
}

/// Adds nothing to a sample's context: for a template that sees only what
/// every template sees.
pub fn no_sample_values(
    _event: &serde_json::Value,
    _context: &mut serde_json::Map<String, serde_json::Value>,
) {
}

/// A deployment message's sample `logs_url` and `change`, as the
/// subscribers that render messages compute them (Slack's, the chat
/// destinations', email's).
pub fn deployment_message_sample_values(
    _event: &serde_json::Value,
    context: &mut serde_json::Map<String, serde_json::Value>,
) {
    context.insert(
        "logs_url".into(),
        "https://graylog.example/search?q=sample".into(),
    );
    context.insert(
        "change".into(),
        serde_json::json!({
            "kind": "upgrade",
            "previous_version": "2.0.10_def456",
            "ran_for": "3 days",
            "text": "upgraded from 2.0.10_def456 after 3 days",
        }),
    );
}

/// A webhook's body unless its definition says otherwise.
pub const DEFAULT_WEBHOOK_BODY: &str = "{{ event | tojson }}";

/// How a webhook's body template is named (its body is not Slack markup).
pub const WEBHOOK_PREFIX: &str = "webhook:";
/// The auto-escape mode of every Slack template.
const SLACK_MARKUP: AutoEscape = AutoEscape::Custom("slack");

/// The name of webhook `name`'s body template.
pub fn webhook_template_name(name: &str) -> String {
    format!("{WEBHOOK_PREFIX}{name}")
}

/// The markup of a family of templates other than Slack's: every template
/// whose name starts with `prefix` (a destination type's, `teams-`) writes
/// event text through `escape`, as Slack templates write it through
/// Slack's escaping. Submitted from the destination type's own folder
/// (`inventory::submit!`), so a new format touches no file here.
pub struct TemplateMarkup {
    pub prefix: &'static str,
    /// How the type's text is made data (the auto-escape mode's name).
    pub escape: fn(&str) -> Cow<'_, str>,
    /// Its templates render a JSON object (a message's fields), as Slack's
    /// do; false for a family that renders a document (an email's part).
    pub renders_json: bool,
}

/// Whether built-in template `name` renders a JSON object (every family
/// but a document's).
pub(crate) fn renders_json(name: &str) -> bool {
    markup_of(name).is_none_or(|markup| markup.renders_json)
}

inventory::collect!(TemplateMarkup);

/// The markup family `name` belongs to, if not Slack's.
fn markup_of(name: &str) -> Option<&'static TemplateMarkup> {
    inventory::iter::<TemplateMarkup>().find(|markup| name.starts_with(markup.prefix))
}

/// The family's escaping, by its auto-escape mode (its prefix).
fn escaping(mode: AutoEscape) -> Option<fn(&str) -> Cow<'_, str>> {
    match mode {
        SLACK_MARKUP => Some(slack_text::escape),
        AutoEscape::Custom(prefix) => inventory::iter::<TemplateMarkup>()
            .find(|markup| markup.prefix == prefix)
            .map(|markup| markup.escape),
        _ => None,
    }
}

/// Slack markup for every template but a webhook's body and the families
/// that declare their own ([`TemplateMarkup`]).
fn auto_escape(name: &str) -> AutoEscape {
    if name.starts_with(WEBHOOK_PREFIX) {
        AutoEscape::None
    } else if let Some(markup) = markup_of(name) {
        AutoEscape::Custom(markup.prefix)
    } else {
        SLACK_MARKUP
    }
}

/// `tojson` that refuses an undefined value (the built-in one writes
/// `null`, which would send a message with a hole in it instead of failing
/// the delivery with the template's line) and, in a Slack template,
/// escapes every string that is not marked safe.
fn strict_tojson(state: &State, value: Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "a value passed to tojson is undefined",
        ));
    }
    let text = match escaping(state.auto_escape()) {
        Some(escape) => serde_json::to_string(&escaped_json(&value, escape)?),
        None => serde_json::to_string(&value),
    }
    .map_err(|error| Error::new(ErrorKind::BadSerialization, error.to_string()))?;
    Ok(Value::from_safe_string(text))
}

/// `value` as JSON with every string not marked safe escaped by `escape`
/// (map keys are field names, not text: they stay as they are).
fn escaped_json(
    value: &Value,
    escape: fn(&str) -> Cow<'_, str>,
) -> Result<serde_json::Value, Error> {
    Ok(match value.kind() {
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            if value.is_safe() {
                text.into()
            } else {
                escape(text).into_owned().into()
            }
        }
        ValueKind::Seq | ValueKind::Iterable => serde_json::Value::Array(
            value
                .try_iter()?
                .map(|item| escaped_json(&item, escape))
                .collect::<Result<_, _>>()?,
        ),
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                let key = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
                map.insert(key, escaped_json(&item, escape)?);
            }
            serde_json::Value::Object(map)
        }
        _ => serde_json::to_value(value)
            .map_err(|error| Error::new(ErrorKind::BadSerialization, error.to_string()))?,
    })
}

/// The `slack_escape` filter: a string Slack-escaped and marked safe (so it
/// is not escaped again); in a list or map, every string. A safe value,
/// numbers, booleans and none are left as they are.
fn slack_escape(value: Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "a value passed to slack_escape is undefined",
        ));
    }
    if value.is_safe() {
        return Ok(value);
    }
    Ok(match value.kind() {
        ValueKind::String => Value::from_safe_string(
            slack_text::escape(value.as_str().unwrap_or_default()).into_owned(),
        ),
        ValueKind::Seq | ValueKind::Iterable => value
            .try_iter()?
            .map(slack_escape)
            .collect::<Result<Value, _>>()?,
        ValueKind::Map => {
            let mut pairs = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                pairs.push((key, slack_escape(item)?));
            }
            pairs.into_iter().collect()
        }
        _ => value,
    })
}

/// The `slack_link(url, label)` function: `<url|label>` as
/// [`slack_text::link`] builds it (a label marked safe is taken as
/// markup), marked safe.
fn slack_link(url: &str, label: Option<Value>) -> Value {
    let link = match label {
        None => slack_text::link(url, None),
        Some(label) if label.is_safe() => {
            slack_text::link_with_markup(url, label.as_str().unwrap_or_default())
        }
        Some(label) => slack_text::link(url, Some(&label.to_string())),
    };
    Value::from_safe_string(link)
}

/// `{{ value }}`: in a Slack template (or another family's), a value not
/// marked safe is written escaped; otherwise as minijinja writes it.
fn markup_formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    let Some(escape) = escaping(state.auto_escape()) else {
        return minijinja::escape_formatter(out, state, value);
    };
    let text = value.to_string();
    // Escaping only lengthens a text: one past the output limit is refused
    // as it is, instead of being scanned whole (20 MB took seconds in a
    // debug build) only to be refused after.
    if text.len() > TEMPLATE_MAX_BYTES {
        return out.write_str(&text).map_err(Error::from);
    }
    let text = if value.is_safe() {
        Cow::Borrowed(text.as_str())
    } else {
        escape(&text)
    };
    out.write_str(&text).map_err(Error::from)
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
        // Templates render JSON and Slack markup, never HTML.
        environment.set_auto_escape_callback(auto_escape);
        environment.set_formatter(markup_formatter);
        environment.add_filter("tojson", strict_tojson);
        environment.add_filter("slack_escape", slack_escape);
        environment.add_function("slack_link", slack_link);
        limits::limit(&mut environment);
        let mut sources: BTreeMap<String, String> = built_in()
            .iter()
            .map(|template| (template.name.to_owned(), template.source.to_owned()))
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
            .render_json(
                "slack-error",
                &json!({"event": {"message": "<b>&</b> \"it's\" a/b"}}),
            )
            .unwrap();
        assert_eq!(
            fields["text"], "&lt;b&gt;&amp;&lt;/b&gt; \"it's\" a/b",
            "Slack escaping only: no HTML escaping of quotes or slashes"
        );
    }

    const HOSTILE: &str = "<https://evil.example|click> & <!channel>";
    const ESCAPED: &str = "&lt;https://evil.example|click&gt; &amp; &lt;!channel&gt;";

    #[test]
    fn every_built_in_slack_template_escapes_event_values() {
        let templates = Templates::default();
        let event = json!({"applicationName": HOSTILE, "friendlyName": "", "cluster": "active",
            "version": "1<2>", "message": HOSTILE, "stackTrace": "List<String> &"});
        let logs_url = "https://logs.test/search?a=1&b=2";
        let deployment = templates
            .render_json(
                "slack-deployment",
                &json!({"event": event, "logs_url": logs_url,
                    "change": {"text": format!("the first deployment of {HOSTILE}")}}),
            )
            .unwrap();
        assert_eq!(
            deployment["text"],
            format!("*{ESCAPED}* deployed in *active*")
        );
        let attachment = &deployment["attachments"][0];
        assert_eq!(attachment["title"], format!("se.kth.imageName: {ESCAPED}"));
        assert_eq!(attachment["text"], "se.kth.imageVersion: 1&lt;2&gt;");
        assert_eq!(
            attachment["footer"],
            format!("the first deployment of {ESCAPED}")
        );
        assert_eq!(attachment["author_link"], logs_url, "a URL field, as built");
        let about = templates
            .render_json(
                "application-endpoint",
                &json!({"event": event, "pipeline_url": format!("https://app.test/pipeline/#{HOSTILE}")}),
            )
            .unwrap();
        assert_eq!(
            about["text"],
            format!(
                ":information_source: About *{ESCAPED}* https://app.test/pipeline/#{ESCAPED} in *active*"
            )
        );
        let error = templates
            .render_json("slack-error", &json!({"event": event}))
            .unwrap();
        assert_eq!(
            error["text"],
            format!("*{ESCAPED}* ```\nList&lt;String&gt; &amp;\n```")
        );
        let recommendation = templates
            .render_json("slack-recommendation", &json!({"event": event}))
            .unwrap();
        assert_eq!(recommendation["text"], ESCAPED);
        let notice = templates
            .render_json(
                "uptimerobot",
                &json!({"event": event, "monitor": {"friendly_name": HOSTILE, "url": "https://x.test/?a&b"}}),
            )
            .unwrap();
        assert_eq!(
            notice["text"],
            format!(":uptime:  *{ESCAPED}* in *active* is monitored using https://x.test/?a&amp;b")
        );
    }

    fn operator(source: &str) -> Templates {
        Templates::compile(&BTreeMap::from([(
            "slack-recommendation".to_owned(),
            source.to_owned(),
        )]))
        .unwrap()
    }

    #[test]
    fn operator_templates_escape_by_default_and_mark_trusted_markup() {
        let context = json!({"event": {"message": HOSTILE, "n": 3, "list": ["<a>", "b"]}});
        let render = |source: &str| {
            operator(source)
                .render("slack-recommendation", &context)
                .unwrap()
        };
        // `{{ value }}` and `tojson`, of a string however built.
        assert_eq!(render("{{ event.message }}"), ESCAPED);
        assert_eq!(
            render("{{ ('<b>' ~ event.message) | tojson }}"),
            format!("\"&lt;b&gt;{ESCAPED}\"")
        );
        assert_eq!(
            render("{{ event | tojson }}"),
            format!("{{\"list\":[\"&lt;a&gt;\",\"b\"],\"message\":\"{ESCAPED}\",\"n\":3}}")
        );
        // Escaped once, never twice.
        assert_eq!(render("{{ event.message | slack_escape }}"), ESCAPED);
        assert_eq!(
            render("{{ event.message | slack_escape | tojson }}"),
            format!("\"{ESCAPED}\"")
        );
        assert_eq!(render("{{ event.message | e }}"), ESCAPED);
        assert_eq!(
            render("{{ event.list | slack_escape | tojson }} {{ event.n | slack_escape }}"),
            "[\"&lt;a&gt;\",\"b\"] 3"
        );
        // Trusted markup.
        assert_eq!(render("{{ '<!here>' | safe }}"), "<!here>");
        assert_eq!(
            render(
                "{{ (slack_link('https://x.test/?a=1&b=2', 'Docs') ~ ': ' ~ (event.message | slack_escape)) | safe | tojson }}"
            ),
            format!("\"<https://x.test/?a=1&b=2|Docs>: {ESCAPED}\"")
        );
        assert_eq!(
            render(
                "{{ slack_link('https://x.test/', event.message) }} {{ slack_link('https://x.test/', '*b*' | safe) }} {{ slack_link('https://x.test/') }}"
            ),
            format!("<https://x.test/|{ESCAPED}> <https://x.test/|*b*> <https://x.test/>")
        );
        assert_eq!(
            render("{% autoescape false %}{{ event.message }}{% endautoescape %}"),
            HOSTILE
        );
        let error = operator("{{ event.missing | slack_escape }}")
            .render("slack-recommendation", &context)
            .unwrap_err();
        assert_eq!(error.line, Some(1));
    }

    #[test]
    fn webhook_bodies_are_not_slack_markup() {
        let templates = Templates::compile(&BTreeMap::from([(
            webhook_template_name("incidents"),
            DEFAULT_WEBHOOK_BODY.to_owned(),
        )]))
        .unwrap();
        let body = templates
            .render(
                &webhook_template_name("incidents"),
                &json!({"event": {"message": HOSTILE}}),
            )
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({"message": HOSTILE})
        );
    }
}

//! The three events Alvares accepts and how they are read from and written
//! to JSON (BEHAVIOUR.md §1, "Event shapes" and "Lists").

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::text::{UniqueList, clean, split_list};

/// Which intake route an event came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Deployment,
    Error,
    Recommendation,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [
        EventKind::Deployment,
        EventKind::Error,
        EventKind::Recommendation,
    ];

    /// The same kinds as a `'static` slice, in `ALL`'s order (empty means
    /// every kind).
    pub fn static_subset(kinds: &[EventKind]) -> &'static [EventKind] {
        use EventKind::{Deployment as D, Error as E, Recommendation as R};
        let has = |kind| kinds.is_empty() || kinds.contains(&kind);
        match (has(D), has(E), has(R)) {
            (true, true, true) => &Self::ALL,
            (true, true, false) => &[D, E],
            (true, false, true) => &[D, R],
            (false, true, true) => &[E, R],
            (true, false, false) => &[D],
            (false, true, false) => &[E],
            (false, false, true) => &[R],
            (false, false, false) => &[],
        }
    }

    /// The lowercase name, as used in routes and serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Deployment => "deployment",
            EventKind::Error => "error",
            EventKind::Recommendation => "recommendation",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a body has the wrong shape; `field` is the camelCase JSON name, or
/// empty when the body as a whole is at fault. Maps to a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A body-level problem has no field; avoid a dangling ": ".
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for FieldError {}

/// How a known body field is read: as text (numbers and booleans become
/// their text) or as a list (a comma-separated string or an array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldShape {
    Text,
    List,
}

/// A deployment report. Optional text fields are `None` when absent or
/// `null`; `Some("")` when the sender sent an empty string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployment {
    pub application_name: String,
    pub cluster: String,
    pub version: Option<String>,
    pub image_name: Option<String>,
    pub public_name_swedish: Option<String>,
    pub public_name_english: Option<String>,
    pub description_swedish: Option<String>,
    pub description_english: Option<String>,
    pub created: Option<String>,
    pub importance: Option<String>,
    pub application_path: Option<String>,
    pub test_accessibility: Option<String>,
    pub monitor_url: Option<String>,
    pub monitor_path: Option<String>,
    pub monitor_pattern: Option<String>,
    pub team: Option<String>,
    pub public_user_documentation_url: Option<String>,
    pub application_url: Option<String>,
    pub about_url: Option<String>,
    pub friendly_name: Option<String>,
    pub slack_channels: Vec<String>,
    pub detectify_profile_tokens: Vec<String>,
    pub accessibility_urls: Vec<String>,
    /// Fields this service does not know, kept as sent and in order.
    pub extra: Map<String, Value>,
}

/// A failed pipeline step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineError {
    pub message: String,
    pub stack_trace: Option<String>,
    pub slack_channels: Vec<String>,
    pub extra: Map<String, Value>,
}

/// Advice for an application's team.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recommendation {
    pub message: String,
    pub slack_channels: Vec<String>,
    pub extra: Map<String, Value>,
}

/// Any accepted event.
// Not boxed: one short-lived event per request, and plain variants keep
// matching simple for subscribers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Deployment(Deployment),
    Error(PipelineError),
    Recommendation(Recommendation),
}

impl Event {
    /// Reads the body of the route for `kind`.
    pub fn parse(kind: EventKind, value: Value) -> Result<Event, FieldError> {
        Ok(match kind {
            EventKind::Deployment => Event::Deployment(Deployment::from_json(value)?),
            EventKind::Error => Event::Error(PipelineError::from_json(value)?),
            EventKind::Recommendation => Event::Recommendation(Recommendation::from_json(value)?),
        })
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::Deployment(_) => EventKind::Deployment,
            Event::Error(_) => EventKind::Error,
            Event::Recommendation(_) => EventKind::Recommendation,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Event::Deployment(d) => d.to_json(),
            Event::Error(e) => e.to_json(),
            Event::Recommendation(r) => r.to_json(),
        }
    }
}

const APPLICATION_NAME: &str = "applicationName";
/// The free text of errors and recommendations keeps its quotes (only
/// surrounding whitespace goes). Every other known field — every field of a
/// deployment, public names and descriptions included — is a label value
/// from an image, where quoting artefacts are common, and also loses double
/// quotes at its ends (BEHAVIOUR.md, "Event shapes").
pub const FREE_TEXT: [&str; 2] = ["message", "stackTrace"];
const CLUSTER: &str = "cluster";
const MESSAGE: &str = "message";
const STACK_TRACE: &str = "stackTrace";
const SLACK_CHANNELS: &str = "slackChannels";

/// A borrowed optional field of a deployment, for writing.
enum FieldRef<'a> {
    Text(&'a Option<String>),
    List(&'a Vec<String>),
}

/// A mutable optional field of a deployment, for reading.
enum FieldMut<'a> {
    Text(&'a mut Option<String>),
    List(&'a mut Vec<String>),
}

impl Deployment {
    /// Optional fields with their JSON names, in output order (the spec's
    /// order, enriched-only fields last). Must list the same names as
    /// `optional_fields_mut`; the round-trip test checks that.
    fn optional_fields(&self) -> [(&'static str, FieldRef<'_>); 21] {
        use FieldRef::{List, Text};
        [
            ("version", Text(&self.version)),
            ("imageName", Text(&self.image_name)),
            (SLACK_CHANNELS, List(&self.slack_channels)),
            ("publicNameSwedish", Text(&self.public_name_swedish)),
            ("publicNameEnglish", Text(&self.public_name_english)),
            ("descriptionSwedish", Text(&self.description_swedish)),
            ("descriptionEnglish", Text(&self.description_english)),
            ("created", Text(&self.created)),
            ("importance", Text(&self.importance)),
            ("applicationPath", Text(&self.application_path)),
            (
                "detectifyProfileTokens",
                List(&self.detectify_profile_tokens),
            ),
            ("testAccessibility", Text(&self.test_accessibility)),
            ("accessibilityUrls", List(&self.accessibility_urls)),
            ("monitorUrl", Text(&self.monitor_url)),
            ("monitorPath", Text(&self.monitor_path)),
            ("monitorPattern", Text(&self.monitor_pattern)),
            ("team", Text(&self.team)),
            (
                "publicUserDocumentationUrl",
                Text(&self.public_user_documentation_url),
            ),
            ("applicationUrl", Text(&self.application_url)),
            ("aboutUrl", Text(&self.about_url)),
            ("friendlyName", Text(&self.friendly_name)),
        ]
    }

    /// The fields that must be present and not empty.
    pub const REQUIRED: [&'static str; 2] = [APPLICATION_NAME, CLUSTER];

    /// Every known field's JSON name and shape, the required ones first,
    /// in output order (what the OpenAPI document describes; any other
    /// field is kept as sent).
    pub fn known_fields() -> Vec<(&'static str, FieldShape)> {
        let optional = Deployment::default()
            .optional_fields()
            .map(|(name, field)| match field {
                FieldRef::Text(_) => (name, FieldShape::Text),
                FieldRef::List(_) => (name, FieldShape::List),
            });
        Self::REQUIRED
            .into_iter()
            .map(|name| (name, FieldShape::Text))
            .chain(optional)
            .collect()
    }

    fn optional_field_mut(&mut self, name: &str) -> Option<FieldMut<'_>> {
        use FieldMut::{List, Text};
        Some(match name {
            "version" => Text(&mut self.version),
            "imageName" => Text(&mut self.image_name),
            SLACK_CHANNELS => List(&mut self.slack_channels),
            "publicNameSwedish" => Text(&mut self.public_name_swedish),
            "publicNameEnglish" => Text(&mut self.public_name_english),
            "descriptionSwedish" => Text(&mut self.description_swedish),
            "descriptionEnglish" => Text(&mut self.description_english),
            "created" => Text(&mut self.created),
            "importance" => Text(&mut self.importance),
            "applicationPath" => Text(&mut self.application_path),
            "detectifyProfileTokens" => List(&mut self.detectify_profile_tokens),
            "testAccessibility" => Text(&mut self.test_accessibility),
            "accessibilityUrls" => List(&mut self.accessibility_urls),
            "monitorUrl" => Text(&mut self.monitor_url),
            "monitorPath" => Text(&mut self.monitor_path),
            "monitorPattern" => Text(&mut self.monitor_pattern),
            "team" => Text(&mut self.team),
            "publicUserDocumentationUrl" => Text(&mut self.public_user_documentation_url),
            "applicationUrl" => Text(&mut self.application_url),
            "aboutUrl" => Text(&mut self.about_url),
            "friendlyName" => Text(&mut self.friendly_name),
            _ => return None,
        })
    }

    /// Reads a deployment body (BEHAVIOUR.md §1). Does not enrich.
    pub fn from_json(value: Value) -> Result<Self, FieldError> {
        let mut deployment = Deployment::default();
        let mut application_name = None;
        let mut cluster = None;
        for (key, value) in into_object(value)? {
            match key.as_str() {
                APPLICATION_NAME => application_name = text_field(&key, value)?,
                CLUSTER => cluster = text_field(&key, value)?,
                _ => match deployment.optional_field_mut(&key) {
                    Some(FieldMut::Text(slot)) => *slot = text_field(&key, value)?,
                    Some(FieldMut::List(slot)) => *slot = list_field(&key, value)?,
                    None => {
                        deployment.extra.insert(key, value);
                    }
                },
            }
        }
        deployment.application_name = required(APPLICATION_NAME, application_name)?;
        deployment.cluster = required(CLUSTER, cluster)?;
        Ok(deployment)
    }

    /// camelCase JSON: required fields, the known fields that are set, the
    /// list fields as arrays (always), then the unknown fields.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            APPLICATION_NAME.into(),
            self.application_name.clone().into(),
        );
        out.insert(CLUSTER.into(), self.cluster.clone().into());
        let fields = self.optional_fields();
        for (name, field) in &fields {
            match field {
                FieldRef::Text(Some(text)) => {
                    out.insert((*name).into(), text.clone().into());
                }
                FieldRef::Text(None) => {}
                FieldRef::List(items) => {
                    out.insert((*name).into(), list_value(items));
                }
            }
        }
        let known: Vec<&str> = [APPLICATION_NAME, CLUSTER]
            .into_iter()
            .chain(fields.iter().map(|(name, _)| *name))
            .collect();
        append_extra(&mut out, &self.extra, &known);
        Value::Object(out)
    }

    /// The Slack channels messages may go to: only `#` items count (§1 Lists).
    pub fn deployment_slack_channels(&self) -> Vec<&str> {
        self.slack_channels
            .iter()
            .map(String::as_str)
            .filter(|channel| channel.starts_with('#'))
            .collect()
    }

    /// `testAccessibility` is `true`, `yes` or `1`, in any case.
    pub fn wants_accessibility_test(&self) -> bool {
        self.test_accessibility.as_deref().is_some_and(|value| {
            let value = value.trim();
            ["true", "yes", "1"]
                .iter()
                .any(|yes| value.eq_ignore_ascii_case(yes))
        })
    }
}

impl PipelineError {
    pub const REQUIRED: [&'static str; 1] = [MESSAGE];
    /// The known fields, in output order (any other is kept as sent).
    pub const KNOWN_FIELDS: [(&'static str, FieldShape); 3] = [
        (MESSAGE, FieldShape::Text),
        (STACK_TRACE, FieldShape::Text),
        (SLACK_CHANNELS, FieldShape::List),
    ];

    /// Reads an error body (BEHAVIOUR.md §1).
    pub fn from_json(value: Value) -> Result<Self, FieldError> {
        let mut error = PipelineError::default();
        let mut message = None;
        for (key, value) in into_object(value)? {
            match key.as_str() {
                MESSAGE => message = text_field(&key, value)?,
                STACK_TRACE => error.stack_trace = text_field(&key, value)?,
                SLACK_CHANNELS => error.slack_channels = list_field(&key, value)?,
                _ => {
                    error.extra.insert(key, value);
                }
            }
        }
        error.message = required(MESSAGE, message)?;
        Ok(error)
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert(MESSAGE.into(), self.message.clone().into());
        if let Some(trace) = &self.stack_trace {
            out.insert(STACK_TRACE.into(), trace.clone().into());
        }
        out.insert(SLACK_CHANNELS.into(), list_value(&self.slack_channels));
        append_extra(
            &mut out,
            &self.extra,
            &[MESSAGE, STACK_TRACE, SLACK_CHANNELS],
        );
        Value::Object(out)
    }
}

impl Recommendation {
    pub const REQUIRED: [&'static str; 1] = [MESSAGE];
    /// The known fields, in output order (any other is kept as sent).
    pub const KNOWN_FIELDS: [(&'static str, FieldShape); 2] = [
        (MESSAGE, FieldShape::Text),
        (SLACK_CHANNELS, FieldShape::List),
    ];

    /// Reads a recommendation body (BEHAVIOUR.md §1).
    pub fn from_json(value: Value) -> Result<Self, FieldError> {
        let mut recommendation = Recommendation::default();
        let mut message = None;
        for (key, value) in into_object(value)? {
            match key.as_str() {
                MESSAGE => message = text_field(&key, value)?,
                SLACK_CHANNELS => recommendation.slack_channels = list_field(&key, value)?,
                _ => {
                    recommendation.extra.insert(key, value);
                }
            }
        }
        recommendation.message = required(MESSAGE, message)?;
        Ok(recommendation)
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert(MESSAGE.into(), self.message.clone().into());
        out.insert(SLACK_CHANNELS.into(), list_value(&self.slack_channels));
        append_extra(&mut out, &self.extra, &[MESSAGE, SLACK_CHANNELS]);
        Value::Object(out)
    }
}

/// The body as an object. No text anywhere in it (a known field, a list
/// item, an unknown field, a key) may hold a NUL character: PostgreSQL
/// cannot store one, and receivers downstream may choke on it.
fn into_object(value: Value) -> Result<Map<String, Value>, FieldError> {
    match value {
        Value::Object(map) => {
            for (key, value) in &map {
                if key.contains('\0') || holds_nul(value) {
                    return Err(FieldError::new(
                        key.replace('\0', "\\u0000"),
                        "must not contain a NUL character (\\u0000)",
                    ));
                }
            }
            Ok(map)
        }
        _ => Err(FieldError::new("", "expected a JSON object")),
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Text form of a scalar; `None` for null, arrays and objects. Free text
/// is only trimmed; identifier-like text is also unquoted.
fn scalar_text(value: &Value, free_text: bool) -> Option<String> {
    match value {
        Value::String(s) if free_text => Some(s.trim().to_owned()),
        Value::String(s) => Some(clean(s)),
        // Senders put numbers and booleans in text fields; keep their text.
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn text_field(name: &str, value: Value) -> Result<Option<String>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(_) | Value::Object(_) => Err(FieldError::new(
            name,
            format!("must be a string, not {}", kind_name(&value)),
        )),
        scalar => Ok(scalar_text(&scalar, FREE_TEXT.contains(&name))),
    }
}

/// A list field: a comma-separated string or an array of scalars.
fn list_field(name: &str, value: Value) -> Result<Vec<String>, FieldError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(_) => Err(FieldError::new(
            name,
            "must be a string or an array of strings, not an object",
        )),
        Value::Array(items) => {
            let mut out = UniqueList::default();
            for item in &items {
                match item {
                    Value::Null => {}
                    Value::Array(_) | Value::Object(_) => {
                        return Err(FieldError::new(
                            name,
                            format!("items must be strings, not {}", kind_name(item)),
                        ));
                    }
                    // An array is already split: items are not split on
                    // commas again (a URL may contain one).
                    scalar => {
                        if let Some(text) = scalar_text(scalar, false) {
                            out.push(text);
                        }
                    }
                }
            }
            Ok(out.into_vec())
        }
        scalar => Ok(scalar_text(&scalar, false)
            .map(|text| split_list(&text))
            .unwrap_or_default()),
    }
}

fn required(name: &str, value: Option<String>) -> Result<String, FieldError> {
    match value {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(FieldError::new(name, "is required")),
    }
}

fn list_value(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// Appends unknown fields in their order; a known name is never overwritten
/// (possible only for values built in code, not parsed ones).
fn append_extra(out: &mut Map<String, Value>, extra: &Map<String, Value>, known: &[&str]) {
    for (key, value) in extra {
        if !known.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ERROR: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/error.json"
    ));
    const RECOMMENDATIONS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/recommendations.json"
    ));

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    fn err(field: &str, problem: &str) -> FieldError {
        FieldError::new(field, problem)
    }

    #[test]
    fn event_kind_names() {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["deployment", "error", "recommendation"]);
        assert_eq!(
            serde_json::to_value(EventKind::Recommendation).ok(),
            Some(json!("recommendation"))
        );
        assert_eq!(
            serde_json::from_value::<EventKind>(json!("error")).ok(),
            Some(EventKind::Error)
        );
        assert_eq!(EventKind::Deployment.to_string(), "deployment");
    }

    #[test]
    fn field_error_display() {
        assert_eq!(
            err("cluster", "is required").to_string(),
            "cluster: is required"
        );
        assert_eq!(
            err("", "expected a JSON object").to_string(),
            "expected a JSON object"
        );
    }

    #[test]
    fn nulls_are_absent() {
        let d = Deployment::from_json(json!({
            "applicationName": "a", "cluster": "active", "version": null,
            "slackChannels": null, "monitorUrl": null, "team": null
        }))
        .expect("valid");
        assert_eq!(d.version, None);
        assert_eq!(d.monitor_url, None);
        assert_eq!(d.team, None);
        assert!(d.slack_channels.is_empty());
        assert!(d.extra.is_empty());
    }

    #[test]
    fn numbers_and_booleans_become_text() {
        let d = Deployment::from_json(json!({
            "applicationName": 42, "cluster": "active", "version": 1.5,
            "created": 1566822400.53, "testAccessibility": true,
            "importance": false, "detectifyProfileTokens": [7, true, null, "x"]
        }))
        .expect("valid");
        assert_eq!(d.application_name, "42");
        assert_eq!(d.version, some("1.5"));
        assert_eq!(d.created, some("1566822400.53"));
        assert_eq!(d.test_accessibility, some("true"));
        assert_eq!(d.importance, some("false"));
        assert_eq!(d.detectify_profile_tokens, vec!["7", "true", "x"]);
        assert!(d.wants_accessibility_test());
    }

    #[test]
    fn quotes_and_whitespace_are_removed() {
        let d = Deployment::from_json(json!({
            "applicationName": " \"app\" ", "cluster": "\"active\"",
            "version": "\t1.0\n", "slackChannels": "\"#dev\" , \" #ops\"",
            "created": "  "
        }))
        .expect("valid");
        assert_eq!(d.application_name, "app");
        assert_eq!(d.cluster, "active");
        assert_eq!(d.version, some("1.0"));
        assert_eq!(d.slack_channels, vec!["#dev", "#ops"]);
        // Empty after cleaning is kept as sent (empty), not dropped.
        assert_eq!(d.created, some(""));
    }

    #[test]
    fn free_text_keeps_its_quotes() {
        let error = PipelineError::from_json(json!({
            "message": " Please set \"PORT\" ", "stackTrace": "\"quoted\"\n"
        }))
        .expect("valid");
        assert_eq!(error.message, "Please set \"PORT\"");
        assert_eq!(error.stack_trace, some("\"quoted\""));
    }

    /// Every known deployment field is a label value: public names,
    /// descriptions and a sender's friendly name lose the quotes at their
    /// ends too, and keep the ones inside.
    #[test]
    fn every_deployment_field_loses_the_quotes_at_its_ends() {
        let d = Deployment::from_json(json!({
            "applicationName": "\"app\"", "cluster": "active",
            "publicNameSwedish": "\"Kurswebb\"",
            "publicNameEnglish": " \"Course \"web\"\" ",
            "descriptionSwedish": "\"a\" och \"b\"",
            "descriptionEnglish": "\"\"",
            "friendlyName": "\"Kurswebben\""
        }))
        .expect("valid");
        assert_eq!(d.application_name, "app");
        assert_eq!(d.public_name_swedish, some("Kurswebb"));
        assert_eq!(d.public_name_english, some("Course \"web"));
        assert_eq!(d.description_swedish, some("a\" och \"b"));
        assert_eq!(d.description_english, some(""));
        assert_eq!(d.friendly_name, some("Kurswebben"));
    }

    #[test]
    fn a_nul_character_anywhere_names_its_field() {
        let cases = [
            (
                json!({"applicationName": "a\u{0}b", "cluster": "active"}),
                "applicationName",
            ),
            (
                json!({"applicationName": "a", "cluster": "active", "slackChannels": ["#a", "#b\u{0}"]}),
                "slackChannels",
            ),
            (
                json!({"applicationName": "a", "cluster": "active", "x-extra": {"deep": ["\u{0}"]}}),
                "x-extra",
            ),
        ];
        for (body, field) in cases {
            let error = Deployment::from_json(body).unwrap_err();
            assert_eq!(error.field, field);
            assert_eq!(error.problem, "must not contain a NUL character (\\u0000)");
        }
        let error = PipelineError::from_json(json!({"message": "m\u{0}"})).unwrap_err();
        assert_eq!(error.field, "message");
        let error = Recommendation::from_json(json!({"message": "m", "a\u{0}": 1})).unwrap_err();
        assert_eq!(error.field, "a\\u0000");
    }

    #[test]
    fn slack_channels_as_string_and_as_array() {
        let from_string = Deployment::from_json(json!({
            "applicationName": "a", "cluster": "active",
            "slackChannels": "#a,#b,,#a, plain ,#b,#c"
        }))
        .expect("valid");
        assert_eq!(from_string.slack_channels, vec!["#a", "#b", "plain", "#c"]);
        assert_eq!(
            from_string.deployment_slack_channels(),
            vec!["#a", "#b", "#c"]
        );

        let from_array = Deployment::from_json(json!({
            "applicationName": "a", "cluster": "active",
            "slackChannels": [" #a", "\"#b\"", "", "#a", "plain", "#c"]
        }))
        .expect("valid");
        assert_eq!(from_array.slack_channels, from_string.slack_channels);

        // An array item is one item, even with a comma in it.
        let d = Deployment::from_json(json!({
            "applicationName": "a", "cluster": "active",
            "accessibilityUrls": ["https://x.test/a,b", "https://x.test/c"]
        }))
        .expect("valid");
        assert_eq!(
            d.accessibility_urls,
            vec!["https://x.test/a,b", "https://x.test/c"]
        );
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let cases = [
            (
                json!({"applicationName": "a", "cluster": "active", "version": {"x": 1}}),
                err("version", "must be a string, not an object"),
            ),
            (
                json!({"applicationName": ["a"], "cluster": "active"}),
                err("applicationName", "must be a string, not an array"),
            ),
            (
                json!({"applicationName": "a", "cluster": "active", "slackChannels": {"a": 1}}),
                err(
                    "slackChannels",
                    "must be a string or an array of strings, not an object",
                ),
            ),
            (
                json!({"applicationName": "a", "cluster": "active", "accessibilityUrls": [["x"]]}),
                err("accessibilityUrls", "items must be strings, not an array"),
            ),
            (
                json!({"applicationName": "a", "cluster": "active", "detectifyProfileTokens": [{}]}),
                err(
                    "detectifyProfileTokens",
                    "items must be strings, not an object",
                ),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(Deployment::from_json(body), Err(expected));
        }
        assert_eq!(
            PipelineError::from_json(json!({"message": "m", "stackTrace": [1]})),
            Err(err("stackTrace", "must be a string, not an array"))
        );
    }

    #[test]
    fn body_must_be_an_object() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            for kind in EventKind::ALL {
                assert_eq!(
                    Event::parse(kind, body.clone()),
                    Err(err("", "expected a JSON object"))
                );
            }
        }
    }

    #[test]
    fn required_fields() {
        let required = err("applicationName", "is required");
        for name in [json!(null), json!(""), json!(" \"\" ")] {
            assert_eq!(
                Deployment::from_json(json!({"applicationName": name, "cluster": "active"})),
                Err(required.clone())
            );
        }
        assert_eq!(
            Deployment::from_json(json!({"cluster": "active"})),
            Err(required)
        );
        assert_eq!(
            Deployment::from_json(json!({"applicationName": "a", "cluster": " "})),
            Err(err("cluster", "is required"))
        );
        assert_eq!(
            Event::parse(EventKind::Error, json!({"stackTrace": "t"})),
            Err(err("message", "is required"))
        );
        assert_eq!(
            Event::parse(EventKind::Recommendation, json!({"message": null})),
            Err(err("message", "is required"))
        );
    }

    #[test]
    fn unknown_fields_travel_in_order() {
        let d = Deployment::from_json(json!({
            "zeta": {"nested": [1, 2]}, "applicationName": "a",
            "alpha": null, "cluster": "active", "middle": " \"untouched\" "
        }))
        .expect("valid");
        let keys: Vec<&str> = d.extra.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["zeta", "alpha", "middle"]);
        assert_eq!(
            d.to_json(),
            json!({
                "applicationName": "a", "cluster": "active",
                "slackChannels": [], "detectifyProfileTokens": [], "accessibilityUrls": [],
                "zeta": {"nested": [1, 2]}, "alpha": null, "middle": " \"untouched\" "
            })
        );
        let out_keys: Vec<String> = d
            .to_json()
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(
            out_keys,
            vec![
                "applicationName",
                "cluster",
                "slackChannels",
                "detectifyProfileTokens",
                "accessibilityUrls",
                "zeta",
                "alpha",
                "middle"
            ]
        );
    }

    #[test]
    fn extra_never_shadows_known_fields() {
        let mut d =
            Deployment::from_json(json!({"applicationName": "a", "cluster": "c"})).expect("valid");
        d.extra.insert("cluster".into(), json!("other"));
        d.extra.insert("team".into(), json!("other"));
        assert_eq!(d.to_json()["cluster"], json!("c"));
        assert_eq!(d.to_json().get("team"), None);
    }

    #[test]
    fn every_known_field_round_trips() {
        let body = json!({
            "applicationName": "a", "cluster": "c", "version": "1",
            "imageName": "i", "slackChannels": ["#s"], "publicNameSwedish": "ps",
            "publicNameEnglish": "pe", "descriptionSwedish": "ds",
            "descriptionEnglish": "de", "created": "", "importance": "high",
            "applicationPath": "/p", "detectifyProfileTokens": ["t"],
            "testAccessibility": "yes", "accessibilityUrls": ["https://u"],
            "monitorUrl": "https://m", "monitorPath": "/m", "monitorPattern": "mp",
            "team": "team", "publicUserDocumentationUrl": "https://doc",
            "applicationUrl": "https://app", "aboutUrl": "https://about",
            "friendlyName": "f", "other": 1
        });
        let d = Deployment::from_json(body.clone()).expect("valid");
        assert!(
            d.extra.keys().eq(["other"].iter()),
            "all known: {:?}",
            d.extra
        );
        assert_eq!(d.to_json(), body);
        assert_eq!(Deployment::from_json(d.to_json()), Ok(d));
    }

    #[test]
    fn accessibility_flag() {
        for (value, wanted) in [
            (json!("TRUE"), true),
            (json!("Yes"), true),
            (json!(1), true),
            (json!(true), true),
            (json!("no"), false),
            (json!(false), false),
            (json!(""), false),
            (json!(null), false),
        ] {
            let d = Deployment::from_json(json!({
                "applicationName": "a", "cluster": "c", "testAccessibility": value
            }))
            .expect("valid");
            assert_eq!(d.wants_accessibility_test(), wanted, "{value}");
        }
    }

    #[test]
    fn error_fixture_and_to_json() {
        let body: Value = serde_json::from_str(ERROR).expect("fixture is JSON");
        let event = Event::parse(EventKind::Error, body).expect("valid");
        assert_eq!(event.kind(), EventKind::Error);
        let Event::Error(error) = &event else {
            panic!("parsed as {:?}", event.kind());
        };
        assert_eq!(error.message, "An error occured");
        assert_eq!(error.stack_trace, some("This is a multiline\nstack trace"));
        assert_eq!(
            error.slack_channels,
            vec!["#team-pipeline-logs", "#ita-ops"]
        );
        assert_eq!(
            event.to_json(),
            json!({
                "message": "An error occured",
                "stackTrace": "This is a multiline\nstack trace",
                "slackChannels": ["#team-pipeline-logs", "#ita-ops"]
            })
        );

        let bare = PipelineError::from_json(json!({"message": "m", "x": [1]})).expect("valid");
        assert_eq!(
            bare.to_json(),
            json!({"message": "m", "slackChannels": [], "x": [1]})
        );
    }

    #[test]
    fn recommendation_fixtures_and_to_json() {
        let all: Vec<Value> = serde_json::from_str(RECOMMENDATIONS).expect("fixture is JSON");
        assert_eq!(all.len(), 2);
        for mut body in all {
            let expected = body
                .as_object_mut()
                .and_then(|o| o.remove("expected-enriched-values"))
                .expect("has expected values");
            let event = Event::parse(EventKind::Recommendation, body).expect("valid");
            assert_eq!(event.kind(), EventKind::Recommendation);
            assert_eq!(event.to_json(), expected);
        }

        let r = Recommendation::from_json(json!({
            "slackChannels": "#b,#b", "message": " \"Add a README\" ", "seen": true
        }))
        .expect("valid");
        // Free text keeps its quotes (BEHAVIOUR.md, "Event shapes").
        assert_eq!(
            Event::Recommendation(r).to_json(),
            json!({"message": "\"Add a README\"", "slackChannels": ["#b"], "seen": true})
        );
    }

    #[test]
    fn deployment_event_kind() {
        let event = Event::parse(
            EventKind::Deployment,
            json!({"applicationName": "a", "cluster": "c"}),
        )
        .expect("valid");
        assert_eq!(event.kind(), EventKind::Deployment);
        assert_eq!(event.to_json()["applicationName"], json!("a"));
    }

    /// The field lists the OpenAPI document is built from are the fields
    /// the parsers know: a body with every listed field keeps nothing as
    /// unknown.
    #[test]
    fn the_known_field_lists_are_what_the_parsers_read() {
        let body = |fields: &[(&str, FieldShape)]| {
            Value::Object(
                fields
                    .iter()
                    .map(|(name, _)| ((*name).to_owned(), json!("x")))
                    .collect(),
            )
        };
        let deployment = Deployment::from_json(body(&Deployment::known_fields())).unwrap();
        assert!(deployment.extra.is_empty(), "{:?}", deployment.extra);
        let written: Vec<String> = deployment
            .to_json()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let listed: Vec<&str> = Deployment::known_fields()
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(written, listed, "written in the listed order");
        let error = PipelineError::from_json(body(&PipelineError::KNOWN_FIELDS)).unwrap();
        assert!(error.extra.is_empty(), "{:?}", error.extra);
        let advice = Recommendation::from_json(body(&Recommendation::KNOWN_FIELDS)).unwrap();
        assert!(advice.extra.is_empty(), "{:?}", advice.extra);
    }
}

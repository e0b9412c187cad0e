//! Matching events by their fields: exact values and globs (`kth-*`), as
//! routes and silences use them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use super::EventKind;

/// One field test: the event's field (camelCase, or `kind`, or for
/// silences `subscriber`) equals one of the patterns (`*` and `?` globs).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub field: String,
    pub patterns: Vec<glob::Pattern>,
}

impl Matcher {
    /// Whether `value` (a string, a number, or a list of them) matches.
    pub fn matches(&self, value: Option<&Value>) -> bool {
        value_texts(value)
            .iter()
            .any(|text| self.patterns.iter().any(|p| p.matches(text)))
    }

    pub fn describe(&self) -> String {
        let patterns: Vec<&str> = self.patterns.iter().map(|p| p.as_str()).collect();
        format!("{} = {}", self.field, patterns.join(" | "))
    }
}

/// The texts a field's value is matched as: a string, a number's or a
/// boolean's text, or each item of a list (an item that is not a string
/// as its JSON); nothing for `null`, an object or an absent field.
pub fn value_texts(value: Option<&Value>) -> Vec<Cow<'_, str>> {
    match value {
        Some(Value::String(text)) => vec![Cow::Borrowed(text.as_str())],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Cow::Borrowed(text.as_str()),
                other => Cow::Owned(other.to_string()),
            })
            .collect(),
        Some(Value::Number(n)) => vec![Cow::Owned(n.to_string())],
        Some(Value::Bool(b)) => vec![Cow::Owned(b.to_string())],
        _ => Vec::new(),
    }
}

/// Matchers all of which must hold.
#[derive(Debug, Clone, Default)]
pub struct Conditions(pub Vec<Matcher>);

impl Conditions {
    /// Whether the event (its kind and enriched JSON), and for silences
    /// the subscriber, match every condition.
    pub fn match_event(&self, kind: EventKind, event: &Value, subscriber: Option<&str>) -> bool {
        self.0.iter().all(|matcher| match matcher.field.as_str() {
            "kind" => matcher.matches(Some(&Value::String(kind.as_str().into()))),
            "subscriber" => {
                matcher.matches(subscriber.map(|s| Value::String(s.to_owned())).as_ref())
            }
            field => matcher.matches(event.get(field)),
        })
    }

    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            "every event".into()
        } else {
            self.0
                .iter()
                .map(Matcher::describe)
                .collect::<Vec<_>>()
                .join(" and ")
        }
    }

    /// Parses `field → patterns` conditions; an invalid glob is refused.
    pub fn parse(spec: &BTreeMap<String, Vec<String>>) -> Result<Self, String> {
        let mut matchers = Vec::new();
        for (field, patterns) in spec {
            let patterns = patterns
                .iter()
                .map(|p| glob::Pattern::new(p).map_err(|e| format!("{field}: pattern {p:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            if patterns.is_empty() {
                return Err(format!("{field}: give at least one value"));
            }
            matchers.push(Matcher {
                field: field.clone(),
                patterns,
            });
        }
        Ok(Conditions(matchers))
    }
}

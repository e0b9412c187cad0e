//! What a Grafana destination sends: an annotation (Grafana's HTTP API,
//! "Annotations API": `POST /api/annotations` with `time`, `tags` and
//! `text`), built without I/O, so every dashboard that shows annotations
//! tagged `alvares` marks when a change went out or an error came in.

use crate::domain::text::cut;
use serde_json::{Value, json};

/// Grafana keeps an annotation's text; this much of an error is enough to
/// tell it on a graph.
pub const TEXT_LIMIT: usize = 2_000;

/// The annotation of `event` (as stored) of `kind`, received at
/// `received_at` (Unix milliseconds): tagged with its kind and, where it
/// has them, `application:…`, `cluster:…`, `team:…`, `version:…`.
pub fn annotation(kind: &str, received_at: i64, event: &Value) -> Value {
    let text = |field: &str| {
        event
            .get(field)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let mut tags = vec!["alvares".to_owned(), kind.to_owned()];
    for (tag, field) in [
        ("application", "applicationName"),
        ("cluster", "cluster"),
        ("team", "team"),
        ("version", "version"),
    ] {
        if let Some(value) = text(field) {
            tags.push(format!("{tag}:{value}"));
        }
    }
    let what = match kind {
        "deployment" => format!(
            "{} {} deployed in {}",
            text("applicationName").unwrap_or("an application"),
            text("version").unwrap_or_default(),
            text("cluster").unwrap_or("a cluster"),
        )
        .replace("  ", " "),
        _ => text("message").unwrap_or(kind).to_owned(),
    };
    json!({"time": received_at, "tags": tags, "text": cut(&what, TEXT_LIMIT)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_is_an_annotation_tagged_with_what_it_is() {
        let event = json!({"applicationName": "app", "cluster": "active", "team": "team-x",
                           "version": "2.0.11_abc123"});
        assert_eq!(
            annotation("deployment", 1_764_000_000_000, &event),
            json!({
                "time": 1_764_000_000_000_i64,
                "tags": ["alvares", "deployment", "application:app", "cluster:active",
                         "team:team-x", "version:2.0.11_abc123"],
                "text": "app 2.0.11_abc123 deployed in active"
            })
        );
    }

    #[test]
    fn an_error_is_its_message_cut_to_the_limit() {
        let sent = annotation("error", 1, &json!({"message": "e".repeat(5000)}));
        assert_eq!(sent["tags"], json!(["alvares", "error"]));
        assert_eq!(sent["text"].as_str().unwrap().chars().count(), TEXT_LIMIT);
    }
}

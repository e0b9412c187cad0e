//! What an Opsgenie destination sends, built without I/O (Opsgenie's
//! documentation, "Alert API": create and close). An error of an
//! application in a cluster creates the alert whose `alias` is that
//! application and cluster; the next deployment of it there closes that
//! alert (the insights' restore rule). Opsgenie's limits: a message of 130
//! characters, a description of 15,000, an alias of 512.

use crate::domain::text::cut;
use serde_json::{Value, json};

pub const MESSAGE_LIMIT: usize = 130;
pub const DESCRIPTION_LIMIT: usize = 15_000;

/// The alert alias of an application in a cluster (no `/`: it is a path
/// segment of the close call).
pub fn alias(application: &str, cluster: &str) -> String {
    format!("alvares:{cluster}:{application}")
}

/// `importance` (as deployments give it) as Opsgenie's priority.
pub fn priority(importance: Option<&str>) -> &'static str {
    match importance {
        Some("high") => "P1",
        Some("low") => "P4",
        _ => "P3",
    }
}

/// The alert an error creates (`event`: the error as stored); without its
/// application and cluster, its own id is the alias.
pub fn create(id: &str, event: &Value) -> Value {
    let text = |field: &str| {
        event
            .get(field)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let message = text("message").unwrap_or("an error");
    let (alias, summary) = match (text("applicationName"), text("cluster")) {
        (Some(application), Some(cluster)) => (
            alias(application, cluster),
            format!("{application} in {cluster}: {message}"),
        ),
        _ => (format!("alvares:error:{id}"), message.to_owned()),
    };
    let description = match text("stackTrace") {
        Some(trace) => format!("{message}\n\n{trace}"),
        None => message.to_owned(),
    };
    let mut alert = json!({
        "message": cut(&summary, MESSAGE_LIMIT),
        "alias": alias,
        "description": cut(&description, DESCRIPTION_LIMIT),
        "source": "Alvares",
        "priority": priority(text("importance")),
        "details": {"event": id},
    });
    let tags: Vec<&str> = [text("applicationName"), text("cluster")]
        .into_iter()
        .flatten()
        .collect();
    alert["tags"] = json!(tags);
    if let Some(application) = text("applicationName") {
        alert["entity"] = application.into();
    }
    alert
}

/// The close a deployment sends: its note says what replaced the failing
/// version.
pub fn close(application: &str, cluster: &str, version: Option<&str>) -> Value {
    let version = version
        .filter(|v| !v.is_empty())
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    json!({
        "source": "Alvares",
        "note": format!("{application}{version} deployed in {cluster}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_creates_the_alert_of_its_application_and_cluster() {
        let event = json!({"message": "build failed", "applicationName": "app",
                           "cluster": "active", "stackTrace": "at X"});
        assert_eq!(
            create("e1", &event),
            json!({
                "message": "app in active: build failed",
                "alias": "alvares:active:app",
                "description": "build failed\n\nat X",
                "source": "Alvares",
                "priority": "P3",
                "details": {"event": "e1"},
                "tags": ["app", "active"],
                "entity": "app"
            })
        );
        assert_eq!(
            close("app", "active", Some("2.0.12")),
            json!({"source": "Alvares", "note": "app 2.0.12 deployed in active"})
        );
    }

    #[test]
    fn a_long_message_is_cut_to_opsgenies_limit() {
        let alert = create(
            "e2",
            &json!({"message": "m".repeat(500), "importance": "high"}),
        );
        assert_eq!(
            alert["message"].as_str().unwrap().chars().count(),
            MESSAGE_LIMIT
        );
        assert_eq!(alert["alias"], "alvares:error:e2");
        assert_eq!(alert["priority"], "P1");
        assert_eq!(alert["tags"], json!([]));
    }
}

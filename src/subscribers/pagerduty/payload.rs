//! What a PagerDuty destination sends: Events API v2 events (PagerDuty's
//! documentation, "Events API v2: Send an Alert Event"), built without
//! I/O. An error of an application in a cluster triggers an alert whose
//! `dedup_key` is that application and cluster; the next deployment of it
//! there resolves that alert (the insights' restore rule). PagerDuty's
//! limits: a summary of 1,024 characters, an event of 512 KB.

use crate::domain::text::cut;
use serde_json::{Value, json};

/// Longest summary PagerDuty takes.
pub const SUMMARY_LIMIT: usize = 1024;
/// How much of a stack trace goes into the alert's details.
pub const TRACE_LIMIT: usize = 16_000;

/// The alert key of an application in a cluster.
pub fn dedup_key(application: &str, cluster: &str) -> String {
    format!("alvares/{cluster}/{application}")
}

/// `importance` (as deployments give it) as PagerDuty's severity.
pub fn severity(importance: Option<&str>) -> &'static str {
    match importance {
        Some("high") => "critical",
        Some("low") => "warning",
        _ => "error",
    }
}

/// The trigger for an error (`event`: the error as stored). Without its
/// application and cluster an error has no alert to resolve: its own id
/// is the key.
pub fn trigger(routing_key: &str, id: &str, event: &Value) -> Value {
    let text = |field: &str| {
        event
            .get(field)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let message = text("message").unwrap_or("an error");
    let (key, summary, source) = match (text("applicationName"), text("cluster")) {
        (Some(application), Some(cluster)) => (
            dedup_key(application, cluster),
            format!("{application} in {cluster}: {message}"),
            cluster.to_owned(),
        ),
        _ => (
            format!("alvares/error/{id}"),
            message.to_owned(),
            "alvares".to_owned(),
        ),
    };
    let mut details = json!({"message": message, "event": id});
    if let Some(trace) = text("stackTrace") {
        details["stackTrace"] = cut(trace, TRACE_LIMIT).into();
    }
    let mut payload = json!({
        "summary": cut(&summary, SUMMARY_LIMIT),
        "source": source,
        "severity": severity(text("importance")),
        "custom_details": details,
    });
    if let Some(application) = text("applicationName") {
        payload["component"] = application.into();
    }
    if let Some(cluster) = text("cluster") {
        payload["group"] = cluster.into();
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": payload,
    })
}

/// The resolve a deployment of `application` to `cluster` sends (PagerDuty
/// answers it alike whether an alert is open or not).
pub fn resolve(routing_key: &str, application: &str, cluster: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": dedup_key(application, cluster),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_triggers_the_alert_of_its_application_and_cluster() {
        let event = json!({"message": "build failed", "applicationName": "app",
                           "cluster": "active", "stackTrace": "at X", "importance": "high"});
        assert_eq!(
            trigger("key", "e1", &event),
            json!({
                "routing_key": "key",
                "event_action": "trigger",
                "dedup_key": "alvares/active/app",
                "payload": {
                    "summary": "app in active: build failed",
                    "source": "active",
                    "severity": "critical",
                    "component": "app",
                    "group": "active",
                    "custom_details": {"message": "build failed", "event": "e1", "stackTrace": "at X"}
                }
            })
        );
        assert_eq!(
            resolve("key", "app", "active"),
            json!({"routing_key": "key", "event_action": "resolve",
                   "dedup_key": "alvares/active/app"})
        );
    }

    #[test]
    fn an_error_of_nothing_in_particular_is_its_own_alert_within_the_limits() {
        let event = json!({"message": "x".repeat(3000)});
        let sent = trigger("key", "e2", &event);
        assert_eq!(sent["dedup_key"], "alvares/error/e2");
        assert_eq!(sent["payload"]["severity"], "error");
        assert_eq!(
            sent["payload"]["summary"].as_str().unwrap().chars().count(),
            SUMMARY_LIMIT
        );
    }
}

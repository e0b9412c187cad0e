//! What a Teams destination posts: one message holding an Adaptive Card
//! (`type: message`, an attachment of
//! `application/vnd.microsoft.card.adaptive`), the shape a Workflows
//! webhook takes (Microsoft Learn, "Create incoming webhooks with
//! Workflows for Microsoft Teams").
//!
//! Event text is data: a card's text is Markdown, so every value from an
//! event is escaped where it leaves the template (`domain::markdown`); links
//! Alvares builds are actions, never text. Teams refuses a message over
//! about 28 KB, so a stack trace is cut at 12,000 characters and a
//! message at 2,000, with a visible marker.

use crate::domain::{EventKind, markdown};

/// The deployment card; it sees `logs_url` and `change` besides the event.
pub const DEPLOYMENT: &str = r##"{
  "type": "message",
  "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "contentUrl": null,
    "content": {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      "type": "AdaptiveCard",
      "version": "1.4",
      "body": [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
         "text": {{ (event.applicationName ~ " deployed in " ~ event.cluster) | tojson }}},
        {"type": "FactSet", "facts": [
          {"title": "Application", "value": {{ event.applicationName | tojson }}},
          {"title": "Version", "value": {{ (event.version | default("")) | tojson }}},
          {"title": "Cluster", "value": {{ event.cluster | tojson }}}
          {%- if event.team is defined and event.team %},
          {"title": "Team", "value": {{ event.team | tojson }}}
          {%- endif %}
        ]}
        {%- if change is defined and change %},
        {"type": "TextBlock", "wrap": true, "isSubtle": true, "text": {{ change.text | tojson }}}
        {%- endif %}
      ],
      "actions": [
        {"type": "Action.OpenUrl", "title": "Search logs", "url": {{ logs_url | safe | tojson }}}
      ]
    }
  }]
}"##;

/// The error card: the message, where it happened, and its trace.
pub const ERROR: &str = r##"{%- set message = event.message if event.message | length <= 2000 else event.message[:2000] ~ "… (truncated)" -%}
{
  "type": "message",
  "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "contentUrl": null,
    "content": {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      "type": "AdaptiveCard",
      "version": "1.4",
      "body": [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "color": "Attention", "wrap": true,
         "text": {{ message | tojson }}}
        {%- if (event.applicationName is defined and event.applicationName) or (event.cluster is defined and event.cluster) %},
        {"type": "FactSet", "facts": [
          {%- if event.applicationName is defined and event.applicationName %}
          {"title": "Application", "value": {{ event.applicationName | tojson }}}
          {%- if event.cluster is defined and event.cluster %},{% endif %}
          {%- endif %}
          {%- if event.cluster is defined and event.cluster %}
          {"title": "Cluster", "value": {{ event.cluster | tojson }}}
          {%- endif %}
        ]}
        {%- endif %}
        {%- if event.stackTrace is defined and event.stackTrace %},
        {"type": "TextBlock", "fontType": "Monospace", "wrap": true,
         "text": {{ (event.stackTrace if event.stackTrace | length <= 12000 else event.stackTrace[:12000] ~ "… (truncated)") | tojson }}}
        {%- endif %}
      ]
    }
  }]
}"##;

/// The recommendation card.
pub const RECOMMENDATION: &str = r##"{
  "type": "message",
  "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "contentUrl": null,
    "content": {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      "type": "AdaptiveCard",
      "version": "1.4",
      "body": [
        {"type": "TextBlock", "weight": "Bolder", "wrap": true, "text": "Recommendation"},
        {"type": "TextBlock", "wrap": true,
         "text": {{ (event.message if event.message | length <= 2000 else event.message[:2000] ~ "… (truncated)") | tojson }}}
      ]
    }
  }]
}"##;

inventory::submit! {
    crate::templates::TemplateMarkup { prefix: "teams-", escape: markdown::escape, renders_json: true }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "teams-deployment",
        kind: EventKind::Deployment,
        source: DEPLOYMENT,
        sample_values: crate::templates::deployment_message_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "teams-error",
        kind: EventKind::Error,
        source: ERROR,
        sample_values: crate::templates::no_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "teams-recommendation",
        kind: EventKind::Recommendation,
        source: RECOMMENDATION,
        sample_values: crate::templates::no_sample_values,
    }
}

#[cfg(test)]
mod tests {
    use crate::templates::Templates;
    use serde_json::json;
    use serde_json::{Map, Value};

    fn card(rendered: &Map<String, Value>) -> &Value {
        assert_eq!(rendered["type"], "message");
        let attachment = &rendered["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(attachment["content"]["type"], "AdaptiveCard");
        &attachment["content"]
    }

    #[test]
    fn the_deployment_card_has_its_facts_change_and_log_link() {
        let values = json!({
            "event": {"applicationName": "kth-azure-app", "cluster": "active",
                      "version": "2.0.11_abc123", "team": "team-pipeline"},
            "logs_url": "https://graylog.example/search?q=a+b",
            "change": {"text": "upgraded from 2.0.10 after 3 days"},
        });
        let rendered = Templates::default()
            .render_json("teams-deployment", &values)
            .unwrap();
        let card = card(&rendered);
        assert_eq!(
            card["body"],
            json!([
                {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                 "text": "kth-azure-app deployed in active"},
                {"type": "FactSet", "facts": [
                    {"title": "Application", "value": "kth-azure-app"},
                    {"title": "Version", "value": "2.0.11\\_abc123"},
                    {"title": "Cluster", "value": "active"},
                    {"title": "Team", "value": "team-pipeline"}
                ]},
                {"type": "TextBlock", "wrap": true, "isSubtle": true,
                 "text": "upgraded from 2.0.10 after 3 days"}
            ])
        );
        assert_eq!(
            card["actions"],
            json!([{"type": "Action.OpenUrl", "title": "Search logs",
                    "url": "https://graylog.example/search?q=a+b"}])
        );
    }

    #[test]
    fn an_error_card_cuts_a_long_trace_with_a_marker() {
        let values = json!({
            "event": {"message": "build failed", "stackTrace": "x".repeat(20_000),
                      "applicationName": "app", "cluster": "stage"},
        });
        let rendered = Templates::default()
            .render_json("teams-error", &values)
            .unwrap();
        let body = &card(&rendered)["body"];
        assert_eq!(body[0]["text"], "build failed");
        assert_eq!(
            body[1]["facts"],
            json!([{"title": "Application", "value": "app"},
                   {"title": "Cluster", "value": "stage"}])
        );
        let trace = body[2]["text"].as_str().unwrap();
        // The marker is event text too (joined to it), escaped as such.
        assert_eq!(trace, format!("{}… \\(truncated\\)", "x".repeat(12_000)));
        assert!(serde_json::to_vec(&rendered).unwrap().len() < 28_000);
    }

    #[test]
    fn an_error_without_application_or_trace_is_its_message_alone() {
        let values = json!({"event": {"message": "@channel it broke"}});
        let rendered = Templates::default()
            .render_json("teams-error", &values)
            .unwrap();
        let body = card(&rendered)["body"].as_array().unwrap().clone();
        assert_eq!(body.len(), 1);
        assert_eq!(body[0]["text"], "@channel it broke");
    }

    #[test]
    fn a_recommendation_card_holds_the_message() {
        let values = json!({"event": {"message": "use *HTTPS*"}});
        let rendered = Templates::default()
            .render_json("teams-recommendation", &values)
            .unwrap();
        assert_eq!(card(&rendered)["body"][1]["text"], "use \\*HTTPS\\*");
    }
}

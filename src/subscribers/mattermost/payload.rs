//! What a Mattermost destination posts: an incoming webhook's body
//! (Mattermost's documentation, "Incoming webhooks" and "Message
//! attachments"), Slack's shape with Mattermost's Markdown. A post holds
//! at most 16,383 characters: a trace is cut at 12,000 and a message at
//! 2,000, with a visible marker.

use std::borrow::Cow;

use crate::domain::{EventKind, markdown};

/// The deployment message; it sees `logs_url` and `change` besides the
/// event.
pub const DEPLOYMENT: &str = r##"{
  "username": "Cluster Deployment",
  "text": {{ (event.applicationName ~ " deployed in " ~ event.cluster) | tojson }},
  "attachments": [{
    "fallback": {{ (event.applicationName ~ " deployed in " ~ event.cluster) | tojson }},
    "color": "#aec90c",
    "title": "Search logs",
    "title_link": {{ logs_url | safe | tojson }},
    "fields": [
      {"short": true, "title": "Version", "value": {{ (event.version | default("")) | tojson }}},
      {"short": true, "title": "Cluster", "value": {{ event.cluster | tojson }}}
      {%- if event.team is defined and event.team %},
      {"short": true, "title": "Team", "value": {{ event.team | tojson }}}
      {%- endif %}
    ]
    {%- if change is defined and change %},
    "footer": {{ change.text | tojson }}
    {%- endif %}
  }]
}"##;

/// The error message: the message, where it happened, and its trace.
pub const ERROR: &str = r##"{
  "username": "Alvares Error",
  "text": {{ (event.message if event.message | length <= 2000 else event.message[:2000] ~ "… (truncated)") | tojson }}
  {%- if event.stackTrace is defined and event.stackTrace %},
  "attachments": [{
    "fallback": "stack trace",
    "color": "#d00000",
    "text": {{ (event.stackTrace if event.stackTrace | length <= 12000 else event.stackTrace[:12000] ~ "… (truncated)") | tojson }}
  }]
  {%- endif %}
}"##;

/// The recommendation message.
pub const RECOMMENDATION: &str = r##"{
  "username": "Alvares",
  "text": {{ (event.message if event.message | length <= 2000 else event.message[:2000] ~ "… (truncated)") | tojson }}
}"##;

inventory::submit! {
    crate::templates::TemplateMarkup { prefix: "mattermost-", escape, renders_json: true }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "mattermost-deployment",
        kind: EventKind::Deployment,
        source: DEPLOYMENT,
        sample_values: crate::templates::deployment_message_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "mattermost-error",
        kind: EventKind::Error,
        source: ERROR,
        sample_values: crate::templates::no_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "mattermost-recommendation",
        kind: EventKind::Recommendation,
        source: RECOMMENDATION,
        sample_values: crate::templates::no_sample_values,
    }
}

/// Mattermost's word joiner after an `@`: shown as nothing, but
/// `@\u{2060}channel` is no mention.
const NO_MENTION: &str = "@\u{2060}";

/// Event text as Mattermost shows it written: Markdown-escaped, and no
/// `@` in it mentions anyone (`@channel` would notify the whole channel).
pub fn escape(text: &str) -> Cow<'_, str> {
    let escaped = markdown::escape(text);
    if !escaped.contains('@') {
        return escaped;
    }
    Cow::Owned(escaped.replace('@', NO_MENTION))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::Templates;
    use serde_json::Value;
    use serde_json::json;

    #[test]
    fn mentions_and_markdown_in_event_text_do_nothing() {
        assert_eq!(
            escape("@channel build **failed** for @alice"),
            "@\u{2060}channel build \\*\\*failed\\*\\* for @\u{2060}alice"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn the_error_message_carries_its_trace_in_an_attachment() {
        let values = json!({"event": {"message": "@here it broke", "stackTrace": "at x(Y.java)"}});
        let rendered = Templates::default()
            .render_json("mattermost-error", &values)
            .unwrap();
        assert_eq!(
            Value::Object(rendered),
            json!({
                "username": "Alvares Error",
                "text": "@\u{2060}here it broke",
                "attachments": [{"fallback": "stack trace", "color": "#d00000",
                                 "text": "at x\\(Y.java\\)"}]
            })
        );
    }
}

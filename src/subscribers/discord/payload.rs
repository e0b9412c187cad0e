//! What a Discord destination posts: a webhook message (Discord's
//! documentation, "Execute Webhook") with one embed, no mentions allowed.
//! Discord's limits: an embed's title 256 characters, its description
//! 4,096, a field's value 1,024, all of an embed 6,000; so a message is cut
//! at 250 and a trace at 3,500, with a visible marker, and every field
//! has a value (an empty one is refused).

use crate::domain::{EventKind, markdown};

/// The deployment embed; it sees `logs_url` and `change` besides the event.
pub const DEPLOYMENT: &str = r##"{
  "username": "Alvares",
  "allowed_mentions": {"parse": []},
  "embeds": [{
    "title": {{ (event.applicationName ~ " deployed in " ~ event.cluster)[:250] | tojson }},
    "url": {{ logs_url | safe | tojson }},
    "color": 11454732,
    "fields": [
      {"name": "Version", "value": {{ (event.version if event.version is defined and event.version else "unknown") | tojson }}, "inline": true},
      {"name": "Cluster", "value": {{ event.cluster | tojson }}, "inline": true}
      {%- if event.team is defined and event.team %},
      {"name": "Team", "value": {{ event.team | tojson }}, "inline": true}
      {%- endif %}
    ]
    {%- if change is defined and change %},
    "footer": {"text": {{ change.text | tojson }}}
    {%- endif %}
  }]
}"##;

/// The error embed: the message, where it happened, and its trace.
pub const ERROR: &str = r##"{
  "username": "Alvares Error",
  "allowed_mentions": {"parse": []},
  "embeds": [{
    "title": {{ (event.message if event.message | length <= 250 else event.message[:250] ~ "…") | tojson }},
    "color": 15158332
    {%- if event.stackTrace is defined and event.stackTrace %},
    "description": {{ (event.stackTrace if event.stackTrace | length <= 3500 else event.stackTrace[:3500] ~ "… (truncated)") | tojson }}
    {%- endif %}
    {%- if (event.applicationName is defined and event.applicationName) or (event.cluster is defined and event.cluster) %},
    "fields": [
      {%- if event.applicationName is defined and event.applicationName %}
      {"name": "Application", "value": {{ event.applicationName | tojson }}, "inline": true}
      {%- if event.cluster is defined and event.cluster %},{% endif %}
      {%- endif %}
      {%- if event.cluster is defined and event.cluster %}
      {"name": "Cluster", "value": {{ event.cluster | tojson }}, "inline": true}
      {%- endif %}
    ]
    {%- endif %}
  }]
}"##;

/// The recommendation embed.
pub const RECOMMENDATION: &str = r##"{
  "username": "Alvares",
  "allowed_mentions": {"parse": []},
  "embeds": [{
    "title": "Recommendation",
    "description": {{ (event.message if event.message | length <= 3500 else event.message[:3500] ~ "… (truncated)") | tojson }}
  }]
}"##;

inventory::submit! {
    crate::templates::TemplateMarkup { prefix: "discord-", escape: markdown::escape, renders_json: true }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "discord-deployment",
        kind: EventKind::Deployment,
        source: DEPLOYMENT,
        sample_values: crate::templates::deployment_message_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "discord-error",
        kind: EventKind::Error,
        source: ERROR,
        sample_values: crate::templates::no_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "discord-recommendation",
        kind: EventKind::Recommendation,
        source: RECOMMENDATION,
        sample_values: crate::templates::no_sample_values,
    }
}

#[cfg(test)]
mod tests {
    use crate::templates::Templates;
    use serde_json::json;

    #[test]
    fn the_deployment_embed_has_its_fields_change_and_log_link() {
        let values = json!({
            "event": {"applicationName": "kth-azure-app", "cluster": "active", "version": ""},
            "logs_url": "https://graylog.example/search?q=a",
            "change": {"text": "the first deployment of kth-azure-app to active"},
        });
        let rendered = Templates::default()
            .render_json("discord-deployment", &values)
            .unwrap();
        assert_eq!(
            serde_json::Value::Object(rendered),
            json!({
                "username": "Alvares",
                "allowed_mentions": {"parse": []},
                "embeds": [{
                    "title": "kth-azure-app deployed in active",
                    "url": "https://graylog.example/search?q=a",
                    "color": 11454732,
                    "fields": [
                        {"name": "Version", "value": "unknown", "inline": true},
                        {"name": "Cluster", "value": "active", "inline": true}
                    ],
                    "footer": {"text": "the first deployment of kth-azure-app to active"}
                }]
            })
        );
    }

    #[test]
    fn an_error_embed_keeps_within_discords_limits() {
        let values = json!({"event": {"message": "m".repeat(600), "stackTrace": "t".repeat(9000)}});
        let rendered = Templates::default()
            .render_json("discord-error", &values)
            .unwrap();
        let embed = &rendered["embeds"][0];
        assert_eq!(embed["title"], format!("{}…", "m".repeat(250)));
        assert_eq!(
            embed["description"],
            format!("{}… \\(truncated\\)", "t".repeat(3500))
        );
        assert!(embed.get("fields").is_none());
        let text = embed.to_string();
        assert!(text.len() < 6000, "{}", text.len());
    }
}

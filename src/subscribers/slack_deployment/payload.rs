//! The deployment message, built without I/O.

pub use crate::domain::links::log_search_link;

/// The deployment message; it sees `logs_url` and `change` besides the event.
pub const TEMPLATE: &str = r##"{
  "text": {{ ("*" ~ event.applicationName ~ "* deployed in *" ~ event.cluster ~ "*") | tojson }},
  "username": "Cluster Deployment",
  "icon_emoji": ":azure:",
  "attachments": [{
    "fallback": "Your client does not support attachments :(",
    "color": "#aec90c",
    "author_name": ":mag: Search Logs",
    "author_link": {{ logs_url | safe | tojson }},
    "title": {{ ("se.kth.imageName: " ~ event.applicationName) | tojson }},
    "text": {{ ("se.kth.imageVersion: " ~ (event.version | default(""))) | tojson }}
    {%- if change is defined and change %},
    "footer": {{ change.text | tojson }}
    {%- endif %}
  }]
}"##;

inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "slack-deployment",
        kind: crate::domain::EventKind::Deployment,
        source: TEMPLATE,
        sample_values: crate::templates::deployment_message_sample_values,
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::Deployment;

    fn sample() -> Deployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deployment.json"
        ));
        Deployment::from_json(serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn message_has_the_spec_fields() {
        let deployment = crate::domain::enrich(sample(), &Default::default());
        let values = serde_json::json!({"event": deployment.to_json(), "logs_url": "LINK"});
        let fields = crate::templates::Templates::default()
            .render_json("slack-deployment", &values)
            .unwrap();
        let message = &crate::slack::SlackMessage::addressed(&["#dev".into()], &fields)[0];
        assert_eq!(
            serde_json::to_value(message).unwrap(),
            serde_json::json!({
                "channel": "#dev",
                "text": "*kth-azure-app* deployed in *active*",
                "username": "Cluster Deployment",
                "icon_emoji": ":azure:",
                "attachments": [{
                    "fallback": "Your client does not support attachments :(",
                    "color": "#aec90c",
                    "author_name": ":mag: Search Logs",
                    "author_link": "LINK",
                    "title": "se.kth.imageName: kth-azure-app",
                    "text": "se.kth.imageVersion: 2.0.11_abc123"
                }]
            })
        );
    }

    #[test]
    fn the_change_is_the_attachments_footer() {
        let deployment = crate::domain::enrich(sample(), &Default::default());
        let change =
            crate::domain::history::Change::of("kth-azure-app", "active", "2.0.11_abc123", 0, None);
        let values = serde_json::json!({
            "event": deployment.to_json(), "logs_url": "LINK", "change": change,
        });
        let fields = crate::templates::Templates::default()
            .render_json("slack-deployment", &values)
            .unwrap();
        assert_eq!(
            fields["attachments"][0]["footer"],
            "the first deployment of kth-azure-app to active"
        );
        assert_eq!(
            fields["attachments"][0]["text"],
            "se.kth.imageVersion: 2.0.11_abc123"
        );
    }
}

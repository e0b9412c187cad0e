//! The deployment message, built without I/O.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use serde_json::{Map, Value};

use crate::domain::Deployment;

/// Everything but letters, digits and `-._~/` is encoded in the log query
/// (`*` becomes `%2A`, `:` becomes `%3A`, `/` stays).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The Graylog search for this image version's logs in this cluster.
pub fn log_search_link(graylog_host: &str, deployment: &Deployment) -> String {
    let image = deployment.image_name.as_deref().unwrap_or_default();
    let version = deployment.version.as_deref().unwrap_or_default();
    let pattern = format!("/.*{image}:{version}.*/");
    format!(
        "{}/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3A{}+AND+image_name%3A{}",
        graylog_host.trim_end_matches('/'),
        utf8_percent_encode(&deployment.cluster, QUERY_VALUE),
        utf8_percent_encode(&pattern, QUERY_VALUE),
    )
}

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
        sample_values,
    }
}

/// A deployment's log link and change context, as `slack-deployment`
/// computes them.
fn sample_values(_event: &Value, context: &mut Map<String, Value>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Deployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deployment.json"
        ));
        Deployment::from_json(serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn log_link_for_the_sample_matches_the_spec() {
        assert_eq!(
            log_search_link("https://graycloud.ite.kth.se/", &sample()),
            "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A/.%2Akth-azure-app%3A2.0.11_abc123.%2A/"
        );
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

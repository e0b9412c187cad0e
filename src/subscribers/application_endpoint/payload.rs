//! The "About <app>" message, built without I/O.

use crate::domain::Deployment;
use crate::domain::enrichment::{EnrichmentSettings, deployment_host, join};
use serde_json::{Map, Value};

/// `join(host, "/pipeline/#<applicationName>")`, the host being the
/// deployment's own or, when it has none, its cluster's host for `/`.
pub fn pipeline_link(deployment: &Deployment, hosts: &EnrichmentSettings) -> String {
    let host = deployment_host(deployment, hosts)
        .unwrap_or_else(|| hosts.host_for_path(&deployment.cluster, "/").to_owned());
    let anchor = format!("/pipeline/#{}", deployment.application_name);
    join(&host, &[anchor.as_str()])
}

/// The "About" message; it sees `pipeline_url` besides the event.
pub const TEMPLATE: &str = r#"{
  "text": {{ (":information_source: About *" ~ (event.friendlyName or event.applicationName) ~ "* " ~ pipeline_url ~ " in *" ~ event.cluster ~ "*") | tojson }},
  "username": "Alvares",
  "icon_emoji": ":azure:"
}"#;

inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "application-endpoint",
        kind: crate::domain::EventKind::Deployment,
        source: TEMPLATE,
        sample_values,
    }
}

/// The pipeline link `application-endpoint` computes.
fn sample_values(event: &Value, context: &mut Map<String, Value>) {
    let application = event["applicationName"].as_str().unwrap_or_default();
    context.insert(
        "pipeline_url".into(),
        format!("https://app.kth.se/pipeline/#{application}").into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EnrichedDeployment;
    use crate::domain::enrichment::enrich;

    fn sample() -> EnrichedDeployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deployment.json"
        ));
        let deployment = Deployment::from_json(serde_json::from_str(json).unwrap()).unwrap();
        enrich(deployment, &EnrichmentSettings::default())
    }

    #[test]
    fn link_for_the_sample_matches_the_spec() {
        assert_eq!(
            pipeline_link(&sample(), &EnrichmentSettings::default()),
            "https://app.kth.se/pipeline/#kth-azure-app"
        );
    }

    #[test]
    fn without_a_path_the_cluster_host_for_root_is_used() {
        let mut deployment = sample();
        deployment.application_path = None;
        deployment.cluster = "integral".into();
        assert_eq!(
            pipeline_link(&deployment, &EnrichmentSettings::default()),
            "https://integral.everest.sys.kth.se/pipeline/#kth-azure-app"
        );
    }

    #[test]
    fn text_names_the_friendly_name() {
        let deployment = sample();
        let values = serde_json::json!({
            "event": deployment.to_json(),
            "pipeline_url": pipeline_link(&deployment, &EnrichmentSettings::default()),
        });
        let fields = crate::templates::Templates::default()
            .render_json("application-endpoint", &values)
            .unwrap();
        assert_eq!(
            fields["text"],
            ":information_source: About *Monitor application* https://app.kth.se/pipeline/#kth-azure-app in *active*"
        );
    }
}

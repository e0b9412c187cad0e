//! The "About <app>" message, built without I/O.

use crate::domain::enrichment::{EnrichmentSettings, deployment_host, join};
use crate::domain::event::Deployment;
use crate::subscribers::slack::SlackMessage;

/// `join(host, "/pipeline/#<applicationName>")`, the host being the
/// deployment's own or, when it has none, its cluster's host for `/`.
pub fn pipeline_link(deployment: &Deployment, hosts: &EnrichmentSettings) -> String {
    let host = deployment_host(deployment, hosts)
        .unwrap_or_else(|| hosts.host_for_path(&deployment.cluster, "/").to_owned());
    let anchor = format!("/pipeline/#{}", deployment.application_name);
    join(&host, &[anchor.as_str()])
}

pub fn messages(
    channels: &[String],
    deployment: &Deployment,
    hosts: &EnrichmentSettings,
) -> Vec<SlackMessage> {
    let name = deployment
        .friendly_name
        .as_deref()
        .filter(|name| !name.is_empty())
        .unwrap_or(&deployment.application_name);
    let text = format!(
        ":information_source: About *{name}* {} in *{}*",
        pipeline_link(deployment, hosts),
        deployment.cluster
    );
    SlackMessage::to_each(channels, &text, "Alvares", ":azure:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enrichment::enrich;

    fn sample() -> Deployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/deployment.json"
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
        let messages = messages(&["#a".into()], &sample(), &EnrichmentSettings::default());
        assert_eq!(
            messages[0].text,
            ":information_source: About *Monitor application* https://app.kth.se/pipeline/#kth-azure-app in *active*"
        );
    }
}

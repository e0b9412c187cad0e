//! The deployment message, built without I/O.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::domain::event::Deployment;
use crate::subscribers::slack::{SlackAttachment, SlackMessage};

/// Everything but letters, digits and `-._~/` is encoded in the log query
/// (`*` becomes `%2A`, `:` becomes `%3A`, `/` stays).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `SLACK_CHANNELS` in order, then the deployment's `#` channels not
/// already listed.
pub fn channels(configured: &[String], deployment: &Deployment) -> Vec<String> {
    let mut channels: Vec<String> = configured.to_vec();
    for channel in deployment.deployment_slack_channels() {
        if !channels.iter().any(|c| c == channel) {
            channels.push(channel.to_owned());
        }
    }
    channels
}

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

pub fn messages(channels: &[String], deployment: &Deployment, link: &str) -> Vec<SlackMessage> {
    let name = &deployment.application_name;
    let attachment = SlackAttachment {
        fallback: "Your client does not support attachments :(".into(),
        color: "#aec90c".into(),
        author_name: ":mag: Search Logs".into(),
        author_link: link.to_owned(),
        title: format!("se.kth.imageName: {name}"),
        text: format!(
            "se.kth.imageVersion: {}",
            deployment.version.as_deref().unwrap_or_default()
        ),
    };
    channels
        .iter()
        .map(|channel| SlackMessage {
            channel: channel.clone(),
            text: format!("*{name}* deployed in *{}*", deployment.cluster),
            username: "Cluster Deployment".into(),
            icon_emoji: ":azure:".into(),
            attachments: vec![attachment.clone()],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Deployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/deployment.json"
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
    fn configured_channels_come_first_without_repeats() {
        let configured = vec!["#developers".to_owned(), "#ops".to_owned()];
        assert_eq!(
            channels(&configured, &sample()),
            ["#developers", "#ops", "#team-studadm"]
        );
    }

    #[test]
    fn channels_without_hash_are_not_posted_to() {
        let mut deployment = sample();
        deployment.slack_channels = vec!["invalid".into(), "#ok".into()];
        assert_eq!(channels(&[], &deployment), ["#ok"]);
    }

    #[test]
    fn message_has_the_spec_fields() {
        let message = &messages(&["#dev".into()], &sample(), "LINK")[0];
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
}

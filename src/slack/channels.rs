//! Which channels a Slack message goes to, decided when its event is
//! planned (`pipeline::routing`): the subscriber's own choice, the
//! operator's routes, and `SLACK_CHANNEL_OVERRIDE` over all of it.

use super::client::SlackClient;
use crate::domain::{Deployment, Destination, PlannedDestination};
use crate::engine::Planning;

impl SlackClient {
    /// `SLACK_CHANNEL_OVERRIDE` instead of `chosen`, when it is set.
    pub fn overridden(&self, chosen: Vec<String>) -> Vec<String> {
        match &self.channel_override {
            Some(channel) => vec![channel.clone()],
            None => chosen,
        }
    }

    /// The channels a message goes to, with where each came from.
    /// `built_in` is the subscriber's own choice; the operator's routes
    /// add to it (or, with `only`, replace it) when `routed` (the kind's
    /// main message), and their `never_channels` take channels out of
    /// every message. `SLACK_CHANNEL_OVERRIDE`, when set, still wins over
    /// all of it.
    pub fn plan_channels(
        &self,
        planning: &Planning<'_>,
        routed: bool,
        built_in: Vec<String>,
    ) -> Vec<PlannedDestination> {
        if let Some(channel) = &self.channel_override {
            let channel = channel.clone();
            return vec![PlannedDestination::own(Destination::Slack { channel })];
        }
        planning
            .operator
            .planned_slack_channels(planning.kind, planning.json, routed, built_in)
    }

    /// The channels of a deployment's messages before routes:
    /// `SLACK_CHANNELS` in order, then the deployment's own `#` channels
    /// not already listed.
    pub fn deployment_channels(&self, deployment: &Deployment) -> Vec<String> {
        deployment_channels(&self.configured_channels, deployment)
    }
}

/// `configured` in order, then the deployment's `#` channels not already
/// listed.
pub fn deployment_channels(configured: &[String], deployment: &Deployment) -> Vec<String> {
    let mut channels: Vec<String> = configured.to_vec();
    for channel in deployment.deployment_slack_channels() {
        if !channels.iter().any(|c| c == channel) {
            channels.push(channel.to_owned());
        }
    }
    channels
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
    fn configured_channels_come_first_without_repeats() {
        let configured = vec!["#developers".to_owned(), "#ops".to_owned()];
        assert_eq!(
            deployment_channels(&configured, &sample()),
            ["#developers", "#ops", "#team-studadm"]
        );
    }

    #[test]
    fn channels_without_hash_are_not_posted_to() {
        let mut deployment = sample();
        deployment.slack_channels = vec!["invalid".into(), "#ok".into()];
        assert_eq!(deployment_channels(&[], &deployment), ["#ok"]);
    }
}

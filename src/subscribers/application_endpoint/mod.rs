//! `application-endpoint`: tells the deployment's own channels where the
//! application's pipeline page is.

pub mod payload;

use super::rate_limit::RateLimit;
use super::slack::{SLACK_RATE_LIMIT, SlackSender};
use super::{DeliveryContext, DeliveryOutcome, Progress, Setup, Subscriber};
use crate::config::ConfigError;
use crate::domain::enrichment::EnrichmentSettings;
use crate::domain::event::{Event, EventKind};
use crate::error::DeliveryError;
use crate::pipeline::messages::PublishedEvent;

pub struct ApplicationEndpoint {
    slack: SlackSender,
    hosts: EnrichmentSettings,
}

impl Subscriber for ApplicationEndpoint {
    const ID: &'static str = "application-endpoint";
    const LEGACY_NAME: &'static str =
        "modules.subscribers.application_endpoint.application_endpoint";
    const KINDS: &'static [EventKind] = &[EventKind::Deployment];
    const RATE_GROUP: &'static str = "slack";

    /// Slack takes about one message a second per channel, short bursts
    /// tolerated.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(SLACK_RATE_LIMIT)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(
            SlackSender::from_settings(setup.settings)?.map(|slack| ApplicationEndpoint {
                slack,
                hosts: setup.settings.enrichment.clone(),
            }),
        )
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        event: &PublishedEvent,
        progress: &Progress,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let Event::Deployment(deployment) = &event.event else {
            return Ok(DeliveryOutcome::Skipped("not a deployment".into()));
        };
        let own: Vec<String> = deployment
            .deployment_slack_channels()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let channels = self.slack.channels(own);
        let messages = payload::messages(&channels, deployment, &self.hosts);
        self.slack.post_all(context, progress, &messages).await
    }
}

//! `slack-deployment`: tells the deployment's channels (and
//! `SLACK_CHANNELS`) that an application version was deployed, with a link
//! to its logs.

pub mod config;
pub mod payload;

use super::rate_limit::RateLimit;
use super::slack::{SLACK_RATE_LIMIT, SlackSender};
use super::{DeliveryContext, DeliveryOutcome, Progress, Setup, Subscriber};
use crate::config::ConfigError;
use crate::domain::event::{Event, EventKind};
use crate::error::DeliveryError;
use crate::pipeline::messages::PublishedEvent;
use config::SlackDeploymentConfig;

pub struct SlackDeployment {
    slack: SlackSender,
    graylog_host: String,
}

impl Subscriber for SlackDeployment {
    const ID: &'static str = "slack-deployment";
    const LEGACY_NAME: &'static str = "modules.subscribers.slack.slack_deployment";
    const KINDS: &'static [EventKind] = &[EventKind::Deployment];
    const RATE_GROUP: &'static str = "slack";

    /// Slack takes about one message a second per channel, short bursts
    /// tolerated.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(SLACK_RATE_LIMIT)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let config: SlackDeploymentConfig = setup.settings.env.load()?;
        Ok(
            SlackSender::from_settings(setup.settings)?.map(|slack| SlackDeployment {
                slack,
                graylog_host: config.graylog_host.as_str().to_owned(),
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
        let channels = self.slack.channels(payload::channels(
            self.slack.configured_channels(),
            deployment,
        ));
        let link = payload::log_search_link(&self.graylog_host, deployment);
        let messages = payload::messages(&channels, deployment, &link);
        self.slack.post_all(context, progress, &messages).await
    }
}

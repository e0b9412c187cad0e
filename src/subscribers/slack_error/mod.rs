//! `slack-error`: posts a failed pipeline step, with its stack trace.

pub mod payload;

use super::rate_limit::RateLimit;
use super::slack::{SLACK_RATE_LIMIT, SlackSender};
use super::{DeliveryContext, DeliveryOutcome, Progress, Setup, Subscriber};
use crate::config::ConfigError;
use crate::domain::event::{Event, EventKind};
use crate::error::DeliveryError;
use crate::pipeline::messages::PublishedEvent;

pub struct SlackError {
    slack: SlackSender,
}

impl Subscriber for SlackError {
    const ID: &'static str = "slack-error";
    const LEGACY_NAME: &'static str = "modules.subscribers.slack.slack_error";
    const KINDS: &'static [EventKind] = &[EventKind::Error];
    const RATE_GROUP: &'static str = "slack";

    /// Slack takes about one message a second per channel, short bursts
    /// tolerated.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(SLACK_RATE_LIMIT)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(SlackSender::from_settings(setup.settings)?.map(|slack| SlackError { slack }))
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        event: &PublishedEvent,
        progress: &Progress,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let Event::Error(error) = &event.event else {
            return Ok(DeliveryOutcome::Skipped("not an error".into()));
        };
        // The error's own channels (any name, not only `#…`), else the
        // configured ones.
        let chosen = if error.slack_channels.is_empty() {
            self.slack.configured_channels().to_vec()
        } else {
            error.slack_channels.clone()
        };
        let channels = self.slack.channels(chosen);
        let messages = payload::messages(&channels, error);
        self.slack.post_all(context, progress, &messages).await
    }
}

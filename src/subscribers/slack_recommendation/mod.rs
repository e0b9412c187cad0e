//! `slack-recommendation`: passes advice on to the application's team.

use super::rate_limit::RateLimit;
use super::slack::{SLACK_RATE_LIMIT, SlackMessage, SlackSender};
use super::{DeliveryContext, DeliveryOutcome, Progress, Setup, Subscriber};
use crate::config::ConfigError;
use crate::domain::event::{Event, EventKind};
use crate::error::DeliveryError;
use crate::pipeline::messages::PublishedEvent;

pub struct SlackRecommendation {
    slack: SlackSender,
}

impl Subscriber for SlackRecommendation {
    const ID: &'static str = "slack-recommendation";
    const LEGACY_NAME: &'static str = "modules.subscribers.slack.slack_recommendation";
    const KINDS: &'static [EventKind] = &[EventKind::Recommendation];
    const RATE_GROUP: &'static str = "slack";

    /// Slack takes about one message a second per channel, short bursts
    /// tolerated.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(SLACK_RATE_LIMIT)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(SlackSender::from_settings(setup.settings)?.map(|slack| SlackRecommendation { slack }))
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        event: &PublishedEvent,
        progress: &Progress,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let Event::Recommendation(recommendation) = &event.event else {
            return Ok(DeliveryOutcome::Skipped("not a recommendation".into()));
        };
        let channels = self.slack.channels(recommendation.slack_channels.clone());
        let messages = SlackMessage::to_each(
            &channels,
            &recommendation.message,
            "Alvares",
            ":female_student:",
        );
        self.slack.post_all(context, progress, &messages).await
    }
}

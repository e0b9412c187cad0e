//! `slack-recommendation`: passes advice on to the application's team.

use super::slack::{SlackMessage, SlackSender};
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

//! `slack-recommendation`: passes advice on to the application's team.

use std::sync::Arc;

use crate::config::{ConfigError, OperatorView, RateLimit};
use crate::domain::Recommendation;
use crate::engine::slack::{SLACK_GROUP, SLACK_RATE_LIMIT};
use crate::engine::{Input, SlackClient, SlackMessage, Unrendered};
use crate::error::DeliveryError;
use crate::subscribers::{DeliveryContext, DeliveryOutcome, Setup, Subscriber, Work};

pub struct SlackRecommendation {
    slack: Arc<SlackClient>,
    operator: OperatorView,
}

impl Subscriber for SlackRecommendation {
    const ID: &'static str = "slack-recommendation";
    const LEGACY_NAME: &'static str = "modules.subscribers.slack.slack_recommendation";
    type Input = Recommendation;
    const RATE_GROUP: &'static str = SLACK_GROUP;
    const ROUTED: bool = true;

    /// Slack takes about one message a second per channel, short bursts
    /// tolerated.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(SLACK_RATE_LIMIT)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(setup.slack.map(|slack| SlackRecommendation {
            slack: slack.clone(),
            operator: setup.operator.clone(),
        }))
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, Recommendation>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let messages = self.messages(&work).render().await?;
        self.slack.post_all(context, work.progress, &messages).await
    }

    fn preview(
        &self,
        work: Work<'_, Recommendation>,
    ) -> Option<Result<Vec<serde_json::Value>, DeliveryError>> {
        Some(
            self.messages(&work)
                .render_waiting()
                .map(|m| SlackMessage::as_json(&m)),
        )
    }
}

impl SlackRecommendation {
    /// The recommendation's own channels, then the routes.
    fn messages(&self, work: &Work<'_, Recommendation>) -> Unrendered {
        let recommendation = work.event;
        let operator = self.operator.borrow().clone();
        let event = recommendation.to_json();
        let chosen = recommendation.slack_channels.clone();
        let channels = self.slack.channels(
            &operator,
            Self::ROUTED,
            recommendation.kind(),
            &event,
            chosen,
        );
        let values = work.template_context(&event);
        SlackMessage::rendered(&operator.templates, Self::ID, &values, &channels)
    }
}

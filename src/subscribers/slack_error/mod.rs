//! `slack-error`: posts a failed pipeline step, with its stack trace.

pub mod config;
pub mod conformance;
pub mod payload;

use std::sync::Arc;

use crate::config::{ConfigError, OperatorView, RateLimit};
use crate::domain::PipelineError;
use crate::error::DeliveryError;
use crate::slack::{SLACK_GROUP, SLACK_RATE_LIMIT, SlackClient, SlackMessage};
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, PlannedDestination, Planning,
    Setup, Subscriber, Work,
};

pub struct SlackError {
    slack: Arc<SlackClient>,
    operator: OperatorView,
}

impl Subscriber for SlackError {
    const ID: &'static str = "slack-error";
    const LEGACY_NAME: &'static str = "modules.subscribers.slack.slack_error";
    type Input = PipelineError;
    const RATE_GROUP: &'static str = SLACK_GROUP;
    const ROUTED: bool = true;

    /// Slack takes about one message a second per channel, short bursts
    /// tolerated.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(SLACK_RATE_LIMIT)
    }

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(Self::read(setup))
    }

    /// The error's own channels, else `SLACK_CHANNELS`, then the routes.
    fn destinations(
        &self,
        error: &PipelineError,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let chosen = if error.slack_channels.is_empty() {
            self.slack.configured_channels().to_vec()
        } else {
            error.slack_channels.clone()
        };
        self.slack.plan_channels(planning, Self::ROUTED, chosen)
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, PipelineError>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let messages = self.messages(&work).render().await?;
        self.slack.post_all(context, work.progress, &messages).await
    }

    fn preview(
        &self,
        work: Work<'_, PipelineError>,
    ) -> Option<Result<Vec<serde_json::Value>, DeliveryError>> {
        Some(
            self.messages(&work)
                .render_waiting()
                .map(|m| SlackMessage::as_json(&m)),
        )
    }
}

//! `application-endpoint`: tells the deployment's own channels where the
//! application's pipeline page is.

pub mod config;
pub mod conformance;
pub mod payload;

use std::sync::Arc;

use crate::config::{ConfigError, OperatorView, RateLimit};
use crate::domain::{EnrichedDeployment, EnrichmentSettings, plan};
use crate::error::DeliveryError;
use crate::slack::{SLACK_GROUP, SLACK_RATE_LIMIT, SlackClient, SlackMessage, Unrendered};
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, PlannedDestination, Planning,
    Setup, Subscriber, Work,
};

pub struct ApplicationEndpoint {
    slack: Arc<SlackClient>,
    hosts: EnrichmentSettings,
    operator: OperatorView,
}

impl Subscriber for ApplicationEndpoint {
    const ID: &'static str = "application-endpoint";
    const LEGACY_NAME: &'static str =
        "modules.subscribers.application_endpoint.application_endpoint";
    type Input = EnrichedDeployment;
    const RATE_GROUP: &'static str = SLACK_GROUP;

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

    /// The deployment's own channels (routes only take channels out).
    fn destinations(
        &self,
        deployment: &EnrichedDeployment,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let own: Vec<String> = deployment
            .deployment_slack_channels()
            .into_iter()
            .map(str::to_owned)
            .collect();
        self.slack.plan_channels(planning, Self::ROUTED, own)
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let messages = self.messages(&work).render().await?;
        self.slack.post_all(context, work.progress, &messages).await
    }

    fn preview(
        &self,
        work: Work<'_, EnrichedDeployment>,
    ) -> Option<Result<Vec<serde_json::Value>, DeliveryError>> {
        Some(
            self.messages(&work)
                .render_waiting()
                .map(|m| SlackMessage::as_json(&m)),
        )
    }
}

impl ApplicationEndpoint {
    /// "About <app>" to each planned channel.
    fn messages(&self, work: &Work<'_, EnrichedDeployment>) -> Unrendered {
        let operator = self.operator.borrow().clone();
        let channels = plan::slack_channels(work.destinations);
        let mut values = work.template_context();
        let link = payload::pipeline_link(work.event, &self.hosts);
        values.insert("pipeline_url", link);
        SlackMessage::rendered(&operator.templates, Self::ID, values, &channels)
    }
}

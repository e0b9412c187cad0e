//! `application-endpoint`: tells the deployment's own channels where the
//! application's pipeline page is.

pub mod payload;

use std::sync::Arc;

use crate::config::{ConfigError, OperatorView, RateLimit};
use crate::domain::{EnrichedDeployment, EnrichmentSettings};
use crate::engine::slack::{SLACK_GROUP, SLACK_RATE_LIMIT};
use crate::engine::{Input, SlackClient, SlackMessage, Unrendered};
use crate::error::DeliveryError;
use crate::subscribers::{DeliveryContext, DeliveryOutcome, Setup, Subscriber, Work};

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

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(setup.slack.map(|slack| ApplicationEndpoint {
            slack: slack.clone(),
            hosts: setup.settings.enrichment.clone(),
            operator: setup.operator.clone(),
        }))
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
    /// "About <app>" to the deployment's own channels.
    fn messages(&self, work: &Work<'_, EnrichedDeployment>) -> Unrendered {
        let deployment = work.event;
        let own: Vec<String> = deployment
            .deployment_slack_channels()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let operator = self.operator.borrow().clone();
        let event = deployment.to_json();
        let channels = self
            .slack
            .channels(&operator, Self::ROUTED, deployment.kind(), &event, own);
        let mut values = work.template_context(&event);
        let link = payload::pipeline_link(deployment, &self.hosts);
        values.insert("pipeline_url".into(), link.into());
        SlackMessage::rendered(&operator.templates, Self::ID, &values, &channels)
    }
}

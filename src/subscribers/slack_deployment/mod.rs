//! `slack-deployment`: tells the deployment's channels (and
//! `SLACK_CHANNELS`) that an application version was deployed, with a link
//! to its logs and what it changes: the version it replaces in the cluster
//! and how long that ran (read from the history at the first attempt and
//! kept with the delivery, so a retry says the same).

pub mod config;
pub mod conformance;
pub mod payload;

use std::sync::Arc;

use crate::config::{ConfigError, OperatorView, RateLimit};
use crate::domain::history::{Change, DeploymentHistory};
use crate::domain::{EnrichedDeployment, plan};
use crate::error::DeliveryError;
use crate::slack::{SLACK_GROUP, SLACK_RATE_LIMIT, SlackClient, SlackMessage, Unrendered};
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, PlannedDestination, Planning,
    Setup, Subscriber, Work,
};
use config::SlackDeploymentConfig;

pub struct SlackDeployment {
    slack: Arc<SlackClient>,
    graylog_host: String,
    operator: OperatorView,
    /// `None` in a preview: the message then says nothing of the change.
    history: Option<Arc<dyn DeploymentHistory>>,
}

impl Subscriber for SlackDeployment {
    const ID: &'static str = "slack-deployment";
    const LEGACY_NAME: &'static str = "modules.subscribers.slack.slack_deployment";
    type Input = EnrichedDeployment;
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
        let config: SlackDeploymentConfig = setup.settings.env.load()?;
        Ok(setup
            .services
            .get::<SlackClient>()
            .map(|slack| SlackDeployment {
                slack,
                graylog_host: config.graylog_host.as_str().to_owned(),
                operator: setup.operator.clone(),
                history: setup.history.cloned(),
            }))
    }

    /// `SLACK_CHANNELS` and the deployment's channels, then the routes.
    fn destinations(
        &self,
        deployment: &EnrichedDeployment,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let built_in = self.slack.deployment_channels(deployment);
        self.slack.plan_channels(planning, Self::ROUTED, built_in)
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let change = crate::engine::change::deployment_change(self.history.clone(), &work).await?;
        let messages = self.messages(&work, change.as_ref()).render().await?;
        self.slack.post_all(context, work.progress, &messages).await
    }

    fn preview(
        &self,
        work: Work<'_, EnrichedDeployment>,
    ) -> Option<Result<Vec<serde_json::Value>, DeliveryError>> {
        Some(
            self.messages(&work, None)
                .render_waiting()
                .map(|m| SlackMessage::as_json(&m)),
        )
    }
}

impl SlackDeployment {
    /// The message to each planned channel.
    fn messages(&self, work: &Work<'_, EnrichedDeployment>, change: Option<&Change>) -> Unrendered {
        let operator = self.operator.borrow().clone();
        let channels = plan::slack_channels(work.destinations);
        let mut values = work.template_context();
        let link = payload::log_search_link(&self.graylog_host, work.event);
        values.insert("logs_url", link);
        values.insert("change", serde_json::to_value(change).unwrap_or_default());
        SlackMessage::rendered(&operator.templates, Self::ID, values, &channels)
    }
}

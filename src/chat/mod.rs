//! What every chat destination reached through an incoming webhook
//! shares (Microsoft Teams, …): a `[[destinations]]` entry of its type is
//! one supervised subscriber, `<type>-<name>`, that renders the type's
//! template for the event's kind (`<type>-deployment`, `<type>-error`,
//! `<type>-recommendation`, replaceable in `[templates]`) and posts it to
//! the URL its `url_env` holds. A deployment's template also sees
//! `logs_url` and `change`, as Slack's does.
//!
//! A type is its folder under `subscribers` (a [`ChatFormat`], its
//! templates and their escaping) and one registry line; nothing here names
//! a type.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use envconfig::Envconfig;
use serde_json::Value;

use crate::config::{ConfigError, HttpUrl, OperatorConfig};
use crate::domain::EnrichedEvent;
use crate::domain::PlannedDestination;
use crate::domain::history::DeploymentHistory;
use crate::domain::links::log_search_link;
use crate::engine::declared::{self, Declared};
use crate::engine::outbound::Body;
use crate::engine::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, Planning, Registration, Setup,
    Subscriber, Work,
};
use crate::error::DeliveryError;

/// A chat destination type.
pub trait ChatFormat: Send + Sync + 'static {
    /// Its `type` in the operator file; its templates' and subscribers'
    /// prefix.
    const TYPE: &'static str;
    /// How the shared conformance test declares one.
    fn conformance(bench: &ConformanceBench<'_>) -> Conformance;
}

/// The variables a chat destination reads besides its URL.
#[derive(Envconfig, Debug)]
struct ChatSettings {
    /// Where a deployment's "Search logs" link points (as Slack's).
    #[envconfig(from = "GRAYLOG_HOST", default = "https://graycloud.ite.kth.se")]
    graylog_host: HttpUrl,
}

/// Every destination of type `F` the operator file declares.
pub fn registrations<F: ChatFormat>(operator: &OperatorConfig) -> Vec<Registration> {
    declared::registrations::<ChatWebhook<F>>(operator, ChatWebhook::<F>::new)
}

/// One declared chat destination of type `F`.
pub struct ChatWebhook<F> {
    declared: Declared,
    values: MessageValues,
    format: PhantomData<F>,
}

/// What a message template sees besides the event: a deployment's log
/// link (as Slack's) and change. Shared by every destination that renders
/// messages from templates (chat webhooks, email).
pub struct MessageValues {
    graylog_host: String,
    /// `None` in a preview: the message then says nothing of the change.
    history: Option<Arc<dyn DeploymentHistory>>,
}

impl MessageValues {
    pub fn new(setup: &Setup<'_>) -> Result<Self, ConfigError> {
        let settings: ChatSettings = setup.settings.env.load()?;
        Ok(MessageValues {
            graylog_host: settings.graylog_host.as_str().to_owned(),
            history: setup.history.cloned(),
        })
    }

    /// What the template sees; a deployment's log link and change too.
    pub async fn of(
        &self,
        work: &Work<'_, EnrichedEvent>,
    ) -> Result<crate::engine::TemplateContext, DeliveryError> {
        let mut values = work.template_context();
        if let EnrichedEvent::Deployment(deployment) = work.event {
            let change = crate::engine::change::change_of(
                self.history.clone(),
                deployment,
                &work.id,
                work.received_at,
                work.progress,
            )
            .await?;
            values.insert("logs_url", log_search_link(&self.graylog_host, deployment));
            values.insert("change", serde_json::to_value(change).unwrap_or_default());
        }
        Ok(values)
    }

    /// The same for a preview, which reads no history: no change.
    pub fn preview(&self, work: &Work<'_, EnrichedEvent>) -> crate::engine::TemplateContext {
        let mut values = work.template_context();
        if let EnrichedEvent::Deployment(deployment) = work.event {
            values.insert("logs_url", log_search_link(&self.graylog_host, deployment));
            values.insert("change", Value::Null);
        }
        values
    }
}

impl<F: ChatFormat> ChatWebhook<F> {
    fn new(name: &str, setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(declared) = Declared::of(F::TYPE, name, setup) else {
            return Ok(None);
        };
        Ok(Some(ChatWebhook {
            declared,
            values: MessageValues::new(setup)?,
            format: PhantomData,
        }))
    }

    /// The template for the event's kind.
    fn template(work: &Work<'_, EnrichedEvent>) -> String {
        format!("{}-{}", F::TYPE, work.event.kind().as_str())
    }
}

impl<F: ChatFormat> Subscriber for ChatWebhook<F> {
    /// Each destination's id is `<type>-<name>` (see [`Subscriber::id`]).
    const ID: &'static str = F::TYPE;
    const LEGACY_NAME: &'static str = "";
    type Input = EnrichedEvent;

    fn id(&self) -> &'static str {
        self.declared.id
    }

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        F::conformance(bench)
    }

    fn from_config(_setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        // Declared ones are made by `registrations`, one per destination.
        Ok(None)
    }

    /// Its URL's variable, when its own `when` or a route sends the event
    /// here.
    fn destinations(
        &self,
        _event: &EnrichedEvent,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        self.declared.destinations(planning)
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let in_force = match self.declared.in_force(work.destinations) {
            Ok(in_force) => in_force,
            Err(skipped) => return Ok(skipped),
        };
        let (operator, url_source) = (in_force.operator, in_force.planned);
        let url = self.declared.variable(url_source.trim_start_matches('$'))?;
        let values = self.values.of(&work).await?;
        let template = Self::template(&work);
        // Off the actor's thread: the actor goes on meanwhile.
        let body = operator
            .templates
            .render_json_async(&template, &values)
            .await
            .map_err(|error| DeliveryError::Permanent(error.to_string()))?;
        let body = serde_json::to_vec(&body)
            .map_err(|error| DeliveryError::Permanent(format!("{template}: {error}")))?;
        let answer = context
            .send(
                context.http.post(url),
                Body::Bytes(Bytes::from(body), "application/json"),
                Duration::from_secs(1),
            )
            .await
            .map_err(|error| error.delivery_error(self.declared.id))?;
        let note = answer
            .body_note()
            .map(|note| format!(" ({note})"))
            .unwrap_or_default();
        Ok(DeliveryOutcome::Delivered(format!(
            "POST {url_source} answered {}{note}",
            answer.status.as_u16()
        )))
    }

    /// The message its template renders (the URL only as its variable).
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        let (operator, declared) = self.declared.current()?;
        let values = self.values.preview(&work);
        Some(
            operator
                .templates
                .render_json(&Self::template(&work), &values)
                .map(|body| {
                    vec![serde_json::json!({
                        "method": "POST",
                        "url": declared.url_source,
                        "body": Value::Object(body),
                    })]
                })
                .map_err(|error| DeliveryError::Permanent(error.to_string())),
        )
    }
}

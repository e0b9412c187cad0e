//! `webhook-<name>`: a generic HTTP destination declared in the operator
//! file. The body is rendered from its template (default: the enriched
//! event as JSON) and, when the webhook has a `secret_env`, signed per
//! Standard Webhooks (`webhook-id` is the event id, the same on every
//! retry, so a receiver can drop repeats). Its method and URL are planned
//! with the event (a retry goes where the first attempt went); its
//! headers, secret and body are read at each attempt. 2xx is delivered, whatever its body (a long or slow one is
//! cut at 64 KiB or at the call timeout, and the outcome says so); 429,
//! 5xx and network errors are retried (a 429's `Retry-After` is
//! honoured); any other answer fails for good.

pub mod config;
pub mod conformance;
pub mod payload;

use std::time::Duration;

use actix_web::web::Bytes;

use crate::config::file::Webhook;
use serde_json::Value;

use crate::config::{ConfigError, Env, OperatorConfig, OperatorView};
use crate::domain::{Destination, EnrichedEvent};
use crate::engine::outbound::Body;
use crate::error::DeliveryError;
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, PlannedDestination, Planning,
    Registration, Setup, Subscriber, Work,
};

/// Every webhook the operator file declares (its typed destinations are
/// their types').
pub fn registrations(operator: &OperatorConfig) -> Vec<Registration> {
    operator
        .webhooks
        .iter()
        .filter(|webhook| webhook.destination_type.is_none())
        .map(registration)
        .collect()
}

pub fn registration(webhook: &Webhook) -> Registration {
    let name = webhook.name.clone();
    Registration::declared(
        &webhook.id,
        &webhook.kinds,
        webhook.rate_limit,
        move |setup| Ok(WebhookDestination::new(&name, setup)),
    )
}

pub struct WebhookDestination {
    id: &'static str,
    name: String,
    operator: OperatorView,
    /// Where a `$VARIABLE` URL is read.
    env: Env,
}

impl Subscriber for WebhookDestination {
    /// Each webhook's id is `webhook-<name>` (see [`Subscriber::id`]).
    const ID: &'static str = "webhook";
    const LEGACY_NAME: &'static str = "";
    type Input = EnrichedEvent;

    fn id(&self) -> &'static str {
        self.id
    }

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(_setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        // Declared ones are made by `registration`, one per webhook.
        Ok(None)
    }

    /// Its method and URL, when its own `when` or a route sends the event
    /// here.
    fn destinations(
        &self,
        _event: &EnrichedEvent,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let operator = planning.operator;
        operator
            .webhook(&self.name)
            .map(|webhook| operator.planned_webhook(webhook, planning.kind, planning.json))
            .unwrap_or_default()
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let operator = self.operator.borrow().clone();
        let Some(webhook) = operator.webhook(&self.name) else {
            return Ok(DeliveryOutcome::Skipped(
                "the webhook is no longer in the configuration".into(),
            ));
        };
        let Some((method, url_source)) = work.destinations.iter().find_map(|d| match d {
            Destination::Webhook { method, url, .. } => Some((method, url)),
            _ => None,
        }) else {
            return Ok(DeliveryOutcome::Skipped(
                "no route sends it here (as planned)".into(),
            ));
        };
        let url = match url_source.strip_prefix('$') {
            Some(variable) => self
                .env
                .get(variable)
                .ok_or_else(|| DeliveryError::Permanent(format!("{url_source} is not set")))?,
            None => url_source.as_str(),
        };
        // Off the actor's thread: the actor goes on meanwhile.
        let body = operator
            .templates
            .render_async(&webhook.template, &payload::template_context(&work))
            .await
            .map_err(|error| DeliveryError::Permanent(error.to_string()))?;
        let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let method_name = method;
        let method = actix_web::http::Method::from_bytes(method.as_bytes())
            .map_err(|_| DeliveryError::Permanent(format!("method {method_name}")))?;
        let mut request = context.http.request(method, url);
        for (name, value) in &webhook.headers {
            request = request.insert_header((name.as_str(), value.as_str()));
        }
        if let Some(key) = &webhook.signing_key {
            let timestamp = context.clock.now_ms() / 1000;
            let signed = payload::sign(
                key.expose(),
                &work.id.to_string(),
                timestamp,
                body.as_bytes(),
            );
            request = request
                .insert_header(("webhook-id", signed.id))
                .insert_header(("webhook-timestamp", signed.timestamp))
                .insert_header(("webhook-signature", signed.signature));
        }
        let answer = context
            .send(
                request,
                Body::Bytes(Bytes::from(body), content_type),
                Duration::from_secs(1),
            )
            .await
            .map_err(|error| error.delivery_error(&webhook.id))?;
        // The status decides; a body not read whole is only noted.
        let note = answer
            .body_note()
            .map(|note| format!(" ({note})"))
            .unwrap_or_default();
        Ok(DeliveryOutcome::Delivered(format!(
            "{method_name} {url_source} answered {}{note}",
            answer.status.as_u16()
        )))
    }

    /// The request: method, URL (or the variable holding it), header
    /// names, and the body (as JSON when it is JSON).
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        let operator = self.operator.borrow().clone();
        let webhook = operator.webhook(&self.name)?;
        Some(payload::render(&operator, webhook, &work).map(|body| {
            let mut headers: Vec<&str> = webhook.headers.keys().map(String::as_str).collect();
            if webhook.signing_key.is_some() {
                headers.extend(["webhook-id", "webhook-timestamp", "webhook-signature"]);
            }
            vec![serde_json::json!({
                "method": webhook.method,
                "url": webhook.url_source,
                "headers": headers,
                "body": serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
            })]
        }))
    }
}

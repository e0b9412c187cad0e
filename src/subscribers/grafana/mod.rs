//! `grafana-<name>`: annotations in a Grafana (`POST {url}/api/annotations`
//! with `Authorization: Bearer <service account token>`, answered `200`
//! with `{"message": "Annotation added", "id": …}`). Every deployment and
//! error (and recommendation, if its kinds say so) becomes an annotation
//! tagged `alvares`, its kind, and `application:`, `cluster:`, `team:`,
//! `version:`, so dashboards show when a change went out.
//!
//! ```toml
//! [[destinations]]
//! name = "ops"
//! type = "grafana"
//! url_env = "OPS_GRAFANA_URL"      # https://grafana.example.org
//! key_env = "OPS_GRAFANA_TOKEN"    # a service account token (annotations:write)
//! kinds = ["deployment", "error"]
//! ```

pub mod config;
pub mod conformance;
pub mod payload;

use std::time::Duration;

use serde_json::Value;

use crate::config::{ConfigError, Env, OperatorConfig, OperatorView, RateLimit};
use crate::domain::{Destination, EnrichedEvent};
use crate::engine::outbound::Body;
use crate::error::DeliveryError;
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, PlannedDestination, Planning,
    Registration, Setup, Subscriber, Work,
};

/// A Grafana takes what its server can; this keeps a burst of deployments
/// from being one (the file's `rate_limit` sets another).
pub const GRAFANA_RATE_LIMIT: RateLimit = RateLimit::new(10, 1, 20);

/// Every Grafana destination the operator file declares.
pub fn registrations(operator: &OperatorConfig) -> Vec<Registration> {
    operator
        .webhooks
        .iter()
        .filter(|declared| declared.destination_type == Some(Grafana::ID))
        .map(|declared| {
            let name = declared.name.clone();
            Registration::declared(
                &declared.id,
                &declared.kinds,
                declared.rate_limit,
                move |setup| Grafana::new(&name, setup),
            )
        })
        .collect()
}

pub struct Grafana {
    id: &'static str,
    name: String,
    operator: OperatorView,
    env: Env,
}

impl Grafana {
    fn new(name: &str, setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        if setup.operator.borrow().webhook(name).is_none() {
            return Ok(None);
        }
        Ok(Some(Grafana {
            id: crate::engine::registration::intern(&format!("{}-{name}", Self::ID)),
            name: name.to_owned(),
            operator: setup.operator.clone(),
            env: setup.settings.env.clone(),
        }))
    }

    /// A variable's value, read at each attempt (a changed secret applies).
    fn variable(&self, variable: &str) -> Result<&str, DeliveryError> {
        self.env
            .get(variable)
            .ok_or_else(|| DeliveryError::Permanent(format!("${variable} is not set")))
    }
}

impl Subscriber for Grafana {
    /// Each destination's id is `grafana-<name>`.
    const ID: &'static str = "grafana";
    const LEGACY_NAME: &'static str = "";
    type Input = EnrichedEvent;

    fn id(&self) -> &'static str {
        self.id
    }

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(_setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        // Declared ones are made by `registrations`, one per destination.
        Ok(None)
    }

    fn destinations(
        &self,
        _event: &EnrichedEvent,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let operator = planning.operator;
        operator
            .webhook(&self.name)
            .map(|declared| operator.planned_webhook(declared, planning.kind, planning.json))
            .unwrap_or_default()
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let operator = self.operator.borrow().clone();
        let Some(declared) = operator.webhook(&self.name) else {
            return Ok(DeliveryOutcome::Skipped(
                "the destination is no longer in the configuration".into(),
            ));
        };
        let Some(url_source) = work.destinations.iter().find_map(|d| match d {
            Destination::Webhook { url, .. } => Some(url),
            _ => None,
        }) else {
            return Ok(DeliveryOutcome::Skipped(
                "no route sends it here (as planned)".into(),
            ));
        };
        let base = self.variable(url_source.trim_start_matches('$'))?;
        let token = self.variable(declared.key_variable.as_deref().unwrap_or_default())?;
        let annotation =
            payload::annotation(work.event.kind().as_str(), work.received_at, work.json);
        let request = context
            .http
            .post(format!("{}/api/annotations", base.trim_end_matches('/')))
            .insert_header(("Authorization", format!("Bearer {token}")));
        let answer = context
            .send(request, Body::Json(&annotation), Duration::from_secs(1))
            .await
            .map_err(|error| error.delivery_error(self.id))?;
        Ok(DeliveryOutcome::Delivered(format!(
            "POST {url_source}/api/annotations answered {}",
            answer.status.as_u16()
        )))
    }

    /// The annotation it would add.
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        let operator = self.operator.borrow().clone();
        let declared = operator.webhook(&self.name)?;
        Some(Ok(vec![serde_json::json!({
            "method": "POST",
            "url": format!("{}/api/annotations", declared.url_source),
            "body": payload::annotation(work.event.kind().as_str(), work.received_at, work.json),
        })]))
    }
}

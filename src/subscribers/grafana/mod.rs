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

use crate::config::{ConfigError, OperatorConfig, RateLimit};
use crate::domain::EnrichedEvent;
use crate::engine::outbound::Body;
use crate::error::DeliveryError;
use crate::subscribers::{
    Declared, DeliveryContext, DeliveryOutcome, Registration, Setup, Subscriber, Work, declared,
};

/// A Grafana takes what its server can; this keeps a burst of deployments
/// from being one (the file's `rate_limit` sets another).
pub const GRAFANA_RATE_LIMIT: RateLimit = RateLimit::new(10, 1, 20);

/// Every Grafana destination the operator file declares.
pub fn registrations(operator: &OperatorConfig) -> Vec<Registration> {
    declared::registrations::<Grafana>(operator, Grafana::new)
}

pub struct Grafana {
    declared: Declared,
}

impl Grafana {
    fn new(name: &str, setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(Declared::of(Self::ID, name, setup).map(|declared| Grafana { declared }))
    }
}

impl Subscriber for Grafana {
    /// Each destination's id is `grafana-<name>`.
    const ID: &'static str = "grafana";
    const LEGACY_NAME: &'static str = "";
    type Input = EnrichedEvent;

    crate::subscribers::declared_items!();

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let in_force = match self.declared.in_force(work.destinations) {
            Ok(in_force) => in_force,
            Err(skipped) => return Ok(skipped),
        };
        let url_source = &in_force.planned;
        let base = self.declared.variable(url_source.trim_start_matches('$'))?;
        let token = self.declared.key(&in_force.declared)?;
        let annotation =
            payload::annotation(work.event.kind().as_str(), work.received_at, work.json);
        let request = context
            .http
            .post(format!("{}/api/annotations", base.trim_end_matches('/')))
            .insert_header(("Authorization", format!("Bearer {token}")));
        let answer = context
            .send(request, Body::Json(&annotation), Duration::from_secs(1))
            .await
            .map_err(|error| error.delivery_error(self.declared.id))?;
        Ok(DeliveryOutcome::Delivered(format!(
            "POST {url_source}/api/annotations answered {}",
            answer.status.as_u16()
        )))
    }

    /// The annotation it would add.
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        let (_, declared) = self.declared.current()?;
        Some(Ok(vec![serde_json::json!({
            "method": "POST",
            "url": format!("{}/api/annotations", declared.url_source),
            "body": payload::annotation(work.event.kind().as_str(), work.received_at, work.json),
        })]))
    }
}

//! `pagerduty-<name>`: a PagerDuty service, through the Events API v2
//! (`POST {PAGERDUTY_EVENTS_URL}/v2/enqueue`, answered `202` with
//! `{"status": "success", "dedup_key": …}`). An error triggers the alert
//! of its application and cluster; the next deployment of that
//! application to that cluster resolves it, so the page ends when the fix
//! is out. Recommendations are no incidents: skipped. Severity from the
//! event's `importance` (high: critical, low: warning, else error).
//!
//! ```toml
//! [[destinations]]
//! name = "platform"
//! type = "pagerduty"
//! key_env = "PLATFORM_PAGERDUTY_KEY"   # the service's integration key
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
use config::PagerDutyConfig;

/// The Events API takes 120 events a minute per integration key
/// (PagerDuty's documentation, "Events API v2 rate limits").
pub const PAGERDUTY_RATE_LIMIT: RateLimit = RateLimit::new(2, 1, 10);

/// Every PagerDuty destination the operator file declares.
pub fn registrations(operator: &OperatorConfig) -> Vec<Registration> {
    declared::registrations::<PagerDuty>(operator, PagerDuty::new)
}

pub struct PagerDuty {
    declared: Declared,
    events_url: String,
}

impl PagerDuty {
    fn new(name: &str, setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(declared) = Declared::of(Self::ID, name, setup) else {
            return Ok(None);
        };
        let config: PagerDutyConfig = setup.settings.env.load()?;
        Ok(Some(PagerDuty {
            declared,
            events_url: config.events_url.as_str().trim_end_matches('/').to_owned(),
        }))
    }

    /// What `work` sends, with the routing key, or why it sends nothing.
    fn event(&self, work: &Work<'_, EnrichedEvent>, key: &str) -> Result<Value, String> {
        match work.event {
            EnrichedEvent::Error(_) => Ok(payload::trigger(key, &work.id.to_string(), work.json)),
            EnrichedEvent::Deployment(deployment) => Ok(payload::resolve(
                key,
                &deployment.application_name,
                &deployment.cluster,
            )),
            EnrichedEvent::Recommendation(_) => Err("a recommendation is no incident".into()),
        }
    }
}

impl Subscriber for PagerDuty {
    /// Each destination's id is `pagerduty-<name>`.
    const ID: &'static str = "pagerduty";
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
        let key = self.declared.key(&in_force.declared)?;
        let event = match self.event(&work, key) {
            Ok(event) => event,
            Err(why) => return Ok(DeliveryOutcome::Skipped(why)),
        };
        let action = event["event_action"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let dedup = event["dedup_key"].as_str().unwrap_or_default().to_owned();
        let answer = context
            .send(
                context.http.post(format!("{}/v2/enqueue", self.events_url)),
                Body::Json(&event),
                Duration::from_secs(1),
            )
            .await
            .map_err(|error| error.delivery_error(self.declared.id))?;
        Ok(DeliveryOutcome::Delivered(format!(
            "{action} {dedup}: PagerDuty answered {}",
            answer.status.as_u16()
        )))
    }

    /// The event it would send (the key only as its variable).
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        let (_, declared) = self.declared.current()?;
        let shown = format!("${}", declared.key_variable.as_deref().unwrap_or_default());
        Some(Ok(self.event(&work, &shown).into_iter().collect()))
    }
}

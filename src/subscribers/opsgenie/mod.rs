//! `opsgenie-<name>`: an Opsgenie team, through the Alert API
//! (`POST {OPSGENIE_API_URL}/v2/alerts` and
//! `…/v2/alerts/{alias}/close?identifierType=alias`, with
//! `Authorization: GenieKey <key>`; both answered `202` with
//! `{"result": "Request will be processed", …}`). An error creates the
//! alert of its application and cluster; the next deployment of that
//! application to that cluster closes it. Recommendations are no
//! incidents: skipped. Priority from the event's `importance` (high: P1,
//! low: P4, else P3).
//!
//! ```toml
//! [[destinations]]
//! name = "platform"
//! type = "opsgenie"
//! key_env = "PLATFORM_OPSGENIE_KEY"   # an API integration's key
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
use config::OpsgenieConfig;

/// Opsgenie's Alert API takes about 10 requests a second per account on
/// the standard plans (its documentation, "API rate limiting"); a 429
/// says how long to wait.
pub const OPSGENIE_RATE_LIMIT: RateLimit = RateLimit::new(5, 1, 10);

/// Every Opsgenie destination the operator file declares.
pub fn registrations(operator: &OperatorConfig) -> Vec<Registration> {
    declared::registrations::<Opsgenie>(operator, Opsgenie::new)
}

pub struct Opsgenie {
    declared: Declared,
    api_url: String,
}

/// What is encoded in the alias's path segment: all but RFC 3986's
/// unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One call: where, what, and what it does (for the outcome).
struct Call {
    path: String,
    body: Value,
    does: String,
}

impl Opsgenie {
    fn new(name: &str, setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(declared) = Declared::of(Self::ID, name, setup) else {
            return Ok(None);
        };
        let config: OpsgenieConfig = setup.settings.env.load()?;
        Ok(Some(Opsgenie {
            declared,
            api_url: config.api_url.as_str().trim_end_matches('/').to_owned(),
        }))
    }

    /// The call `work` makes, or why it makes none.
    fn call(work: &Work<'_, EnrichedEvent>) -> Result<Call, String> {
        match work.event {
            EnrichedEvent::Error(_) => {
                let body = payload::create(&work.id.to_string(), work.json);
                let does = format!("create {}", body["alias"].as_str().unwrap_or_default());
                Ok(Call {
                    path: "/v2/alerts".into(),
                    body,
                    does,
                })
            }
            EnrichedEvent::Deployment(deployment) => {
                let alias = payload::alias(&deployment.application_name, &deployment.cluster);
                Ok(Call {
                    path: format!(
                        "/v2/alerts/{}/close?identifierType=alias",
                        percent_encoding::utf8_percent_encode(&alias, PATH_SEGMENT)
                    ),
                    body: payload::close(
                        &deployment.application_name,
                        &deployment.cluster,
                        deployment.version.as_deref(),
                    ),
                    does: format!("close {alias}"),
                })
            }
            EnrichedEvent::Recommendation(_) => Err("a recommendation is no incident".into()),
        }
    }
}

impl Subscriber for Opsgenie {
    /// Each destination's id is `opsgenie-<name>`.
    const ID: &'static str = "opsgenie";
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
        let call = match Self::call(&work) {
            Ok(call) => call,
            Err(why) => return Ok(DeliveryOutcome::Skipped(why)),
        };
        let request = context
            .http
            .post(format!("{}{}", self.api_url, call.path))
            .insert_header(("Authorization", format!("GenieKey {key}")));
        let answer = context
            .send(request, Body::Json(&call.body), Duration::from_secs(1))
            .await
            .map_err(|error| error.delivery_error(self.declared.id))?;
        Ok(DeliveryOutcome::Delivered(format!(
            "{}: Opsgenie answered {}",
            call.does,
            answer.status.as_u16()
        )))
    }

    /// The call it would make (the key never shown).
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        self.declared.current()?;
        Some(Ok(Self::call(&work)
            .map(|call| serde_json::json!({"method": "POST", "path": call.path, "body": call.body}))
            .into_iter()
            .collect()))
    }
}

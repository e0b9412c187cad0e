//! `flottsbro`: the original service's last store. Each enriched deployment
//! is POSTed as JSON to `<FLOTTSBRO_API_BASE_URL>/v1/latest/<cluster>` with
//! the `api_key` header. A 2xx is delivered; 5xx, 429 and network errors
//! are retried; another 4xx fails. (The original sent the fields
//! form-encoded and ignored every error.)

pub mod config;
pub mod conformance;
pub mod payload;

use std::time::Duration;

use crate::config::{ConfigError, Secret};
use crate::domain::EnrichedDeployment;
use crate::engine::outbound::Body;
use crate::error::DeliveryError;
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, Setup, Subscriber, Work,
};
use config::FlottsbroConfig;

pub struct Flottsbro {
    api_key: Secret<String>,
    base_url: String,
}

impl Subscriber for Flottsbro {
    const ID: &'static str = "flottsbro";
    const LEGACY_NAME: &'static str = "modules.subscribers.flottsbro.flottsbro";
    type Input = EnrichedDeployment;

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let config: FlottsbroConfig = setup.settings.env.load()?;
        Ok(config.api_key.map(|api_key| Flottsbro {
            api_key,
            base_url: config.api_base_url.as_str().to_owned(),
        }))
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let deployment = work.event;
        let url = payload::latest_url(&self.base_url, &deployment.cluster);
        let request = context
            .http
            .post(url)
            .insert_header(("api_key", self.api_key.expose().as_str()));
        context
            .send(
                request,
                Body::json(work.json.as_ref()),
                Duration::from_secs(1),
            )
            .await
            .map_err(|error| error.delivery_error("flottsbro"))?;
        Ok(DeliveryOutcome::Delivered(format!(
            "stored as the latest of {} in {}",
            deployment.application_name, deployment.cluster
        )))
    }
}

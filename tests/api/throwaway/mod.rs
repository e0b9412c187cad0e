//! `throwaway`: an integration that lives in the tests only, to prove
//! that adding one is its folder plus one line in a registration list
//! (here the tests' own, `helpers::integrations`). It posts each
//! recommendation as a note to `<THROWAWAY_BASE_URL>/notes` with its token
//! in `Authorization`, and the conformance test covers it like every
//! built-in one.

pub mod config;
pub mod conformance;
pub mod payload;

use std::time::Duration;

use alvares::config::{ConfigError, Secret};
use alvares::domain::Recommendation;
use alvares::engine::outbound::Body;
use alvares::error::DeliveryError;
use alvares::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, Setup, Subscriber, Work,
};

pub struct Throwaway {
    token: Secret<String>,
    base_url: String,
}

impl Subscriber for Throwaway {
    const ID: &'static str = "throwaway";
    const LEGACY_NAME: &'static str = "";
    type Input = Recommendation;

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Self::read(setup)
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, Recommendation>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let request = context
            .http
            .post(format!("{}/notes", self.base_url))
            .insert_header((
                "Authorization",
                format!("Token {}", self.token.expose()).as_str(),
            ));
        let note = payload::note(work.event);
        context
            .send(request, Body::json(&note), Duration::from_secs(1))
            .await
            .map_err(|error| error.delivery_error(Self::ID))?;
        Ok(DeliveryOutcome::Delivered("noted".into()))
    }
}

//! `database`: stores every enriched deployment in the history that the
//! pipeline's dashboards read (`GET /api/v1/deployments…`), and every error
//! event that names its application and cluster in the failure history
//! that the delivery-performance figures read (`GET /api/v1/insights`).

pub mod config;
pub mod conformance;
pub mod payload;

use crate::config::ConfigError;
use crate::domain::{EnrichedEvent, EventKind};
use crate::error::DeliveryError;
use crate::store::journal::Journal;
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, Setup, Subscriber, Work,
};
use payload::Record;

pub struct Database {
    journal: Journal,
}

impl Subscriber for Database {
    const ID: &'static str = "database";
    const LEGACY_NAME: &'static str = "modules.subscribers.database.cosmosdb";
    type Input = EnrichedEvent;
    // Recommendations are not history: no delivery is made for them.
    const KINDS: &'static [EventKind] = &[EventKind::Deployment, EventKind::Error];

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(Self::read(setup))
    }

    async fn deliver(
        &self,
        _context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let stored = match payload::record(&work) {
            Record::Deployment(row) => self.journal.store_deployment(*row).await,
            Record::Failure(row) => self.journal.store_failure(row).await,
            Record::Nothing(why) => return Ok(DeliveryOutcome::Skipped(why.into())),
        };
        stored.map_err(|error| DeliveryError::transient(format!("could not store: {error}")))?;
        Ok(DeliveryOutcome::Delivered(match work.event.kind() {
            EventKind::Error => "stored in the failure history".into(),
            _ => "stored in the deployment history".into(),
        }))
    }
}

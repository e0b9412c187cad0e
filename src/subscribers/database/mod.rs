//! `database`: stores every enriched deployment in the history that the
//! pipeline's dashboards read (`GET /api/v1/deployments…`), and every error
//! event that names its application and cluster in the failure history
//! that the delivery-performance figures read (`GET /api/v1/insights`).

use crate::config::ConfigError;
use crate::domain::{EnrichedEvent, EventKind};
use crate::error::DeliveryError;
use crate::store::journal::Journal;
use crate::store::models::deployments::DeploymentRow;
use crate::store::models::failures::FailureRow;
use crate::subscribers::{DeliveryContext, DeliveryOutcome, Setup, Subscriber, Work};

pub struct Database {
    journal: Journal,
}

impl Subscriber for Database {
    const ID: &'static str = "database";
    const LEGACY_NAME: &'static str = "modules.subscribers.database.cosmosdb";
    type Input = EnrichedEvent;
    // Recommendations are not history: no delivery is made for them.
    const KINDS: &'static [EventKind] = &[EventKind::Deployment, EventKind::Error];

    /// Always configured in the service: the database is the one Alvares
    /// runs on (a preview has none).
    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(setup.journal.map(|journal| Database {
            journal: journal.clone(),
        }))
    }

    async fn deliver(
        &self,
        _context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let id = work.id.to_string();
        let stored = match work.event {
            EnrichedEvent::Deployment(deployment) => {
                let row = DeploymentRow::from_enriched(&id, work.received_at, deployment);
                self.journal.store_deployment(row).await
            }
            EnrichedEvent::Error(_) => {
                let (Some(application), Some(cluster)) = work.event.attribution() else {
                    return Ok(DeliveryOutcome::Skipped(
                        "the error names no applicationName and cluster".into(),
                    ));
                };
                let row = FailureRow {
                    id,
                    received_at: work.received_at,
                    application,
                    cluster,
                };
                self.journal.store_failure(row).await
            }
            EnrichedEvent::Recommendation(_) => {
                return Ok(DeliveryOutcome::Skipped("not stored".into()));
            }
        };
        stored.map_err(|error| DeliveryError::transient(format!("could not store: {error}")))?;
        Ok(DeliveryOutcome::Delivered(match work.event.kind() {
            EventKind::Error => "stored in the failure history".into(),
            _ => "stored in the deployment history".into(),
        }))
    }
}

//! `database`: stores every enriched deployment in the history that the
//! pipeline's dashboards read (`GET /api/v1/deployments…`).

use super::{DeliveryContext, DeliveryOutcome, Progress, Setup, Subscriber};
use crate::config::ConfigError;
use crate::domain::event::{Event, EventKind};
use crate::error::DeliveryError;
use crate::pipeline::messages::PublishedEvent;
use crate::store::journal::Journal;
use crate::store::models::deployments::DeploymentRow;

pub struct Database {
    journal: Journal,
}

impl Subscriber for Database {
    const ID: &'static str = "database";
    const LEGACY_NAME: &'static str = "modules.subscribers.database.cosmosdb";
    const KINDS: &'static [EventKind] = &[EventKind::Deployment];

    /// Always configured: the database is the one Alvares runs on.
    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(Some(Database {
            journal: setup.journal.clone(),
        }))
    }

    async fn deliver(
        &self,
        _context: &DeliveryContext,
        event: &PublishedEvent,
        _progress: &Progress,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let Event::Deployment(deployment) = &event.event else {
            return Ok(DeliveryOutcome::Skipped("not a deployment".into()));
        };
        let row =
            DeploymentRow::from_enriched(&event.id.to_string(), event.received_at, deployment);
        self.journal
            .store_deployment(row)
            .await
            .map_err(|error| DeliveryError::transient(format!("could not store: {error}")))?;
        Ok(DeliveryOutcome::Delivered(
            "stored in the deployment history".into(),
        ))
    }
}

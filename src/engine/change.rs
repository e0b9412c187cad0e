//! What a deployment changes (the version it replaces in its cluster and
//! how long that ran), for every destination that says so: read from the
//! history at the first attempt and kept with the delivery, so a retry
//! says the same.

use std::sync::Arc;

use super::subscriber::{Progress, Work};
use crate::domain::EnrichedDeployment;
use crate::domain::history::{Change, DeploymentHistory};
use crate::domain::id::EventId;
use crate::error::DeliveryError;

/// Where the change is kept in the delivery's progress.
const CHANGE_NOTE: &str = "change";

/// What `work`'s deployment changes; `None` without a history (a preview).
pub async fn deployment_change(
    history: Option<Arc<dyn DeploymentHistory>>,
    work: &Work<'_, EnrichedDeployment>,
) -> Result<Option<Change>, DeliveryError> {
    change_of(
        history,
        work.event,
        &work.id,
        work.received_at,
        work.progress,
    )
    .await
}

/// The same for a deployment delivered as part of any event (a
/// destination taking every kind).
pub async fn change_of(
    history: Option<Arc<dyn DeploymentHistory>>,
    deployment: &EnrichedDeployment,
    id: &EventId,
    received_at: i64,
    progress: &Progress,
) -> Result<Option<Change>, DeliveryError> {
    if let Some(kept) = progress.noted(CHANGE_NOTE) {
        return Ok(serde_json::from_str(&kept).ok());
    }
    let Some(history) = history else {
        return Ok(None);
    };
    let (application, cluster) = (
        deployment.application_name.clone(),
        deployment.cluster.clone(),
    );
    let before = id.to_string();
    let previous =
        tokio::task::spawn_blocking(move || history.previous(&application, &cluster, &before))
            .await
            .map_err(|_| DeliveryError::transient("the history lookup stopped"))?
            .map_err(|error| {
                DeliveryError::transient(format!(
                    "the deployment history could not be read: {error}"
                ))
            })?;
    let change = Change::of(
        &deployment.application_name,
        &deployment.cluster,
        deployment.version.as_deref().unwrap_or_default(),
        received_at,
        previous.as_ref(),
    );
    if let Ok(kept) = serde_json::to_string(&change) {
        progress.note(CHANGE_NOTE, &kept);
    }
    Ok(Some(change))
}

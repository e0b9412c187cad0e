//! The row `database` writes for an event, built without I/O.

use crate::domain::EnrichedEvent;
use crate::store::models::deployments::DeploymentRow;
use crate::store::models::failures::FailureRow;
use crate::subscribers::Work;

/// What an event becomes in the history.
pub enum Record {
    // Boxed: a deployment row is several times the others.
    Deployment(Box<DeploymentRow>),
    Failure(FailureRow),
    /// Nothing is stored, and why.
    Nothing(&'static str),
}

/// A deployment's row in the deployment history; an error's in the failure
/// history when it names its application and cluster.
pub fn record(work: &Work<'_, EnrichedEvent>) -> Record {
    let id = work.id.to_string();
    match work.event {
        EnrichedEvent::Deployment(deployment) => Record::Deployment(Box::new(
            DeploymentRow::from_enriched(&id, work.received_at, deployment),
        )),
        EnrichedEvent::Error(_) => match work.event.attribution() {
            (Some(application), Some(cluster)) => Record::Failure(FailureRow {
                id,
                received_at: work.received_at,
                application,
                cluster,
            }),
            _ => Record::Nothing("the error names no applicationName and cluster"),
        },
        EnrichedEvent::Recommendation(_) => Record::Nothing("not stored"),
    }
}

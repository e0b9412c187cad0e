//! The deployment history as subscribers read it (see
//! `domain::history`): reads on the pool, never through the writer.

use super::DbPool;
use super::models::deployments;
use crate::domain::history::{DeploymentHistory, PreviousDeployment};

pub struct StoredHistory(pub DbPool);

impl DeploymentHistory for StoredHistory {
    fn previous(
        &self,
        application: &str,
        cluster: &str,
        before_id: &str,
    ) -> Result<Option<PreviousDeployment>, String> {
        let mut connection = self.0.get().map_err(|error| error.to_string())?;
        deployments::previous_in_cluster(&mut connection, application, cluster, before_id)
            .map(|found| {
                found.map(|(version, deployed_at)| PreviousDeployment {
                    version,
                    deployed_at,
                })
            })
            .map_err(|error| error.to_string())
    }
}

//! What `application-endpoint` reads: the cluster hosts of the enrichment
//! settings (the link's host) and no variable of its own. It is configured
//! when the shared Slack client is (`SLACK_TOKEN` or `SLACK_WEB_HOOK`).

use super::ApplicationEndpoint;
use crate::slack::SlackClient;
use crate::subscribers::Setup;

impl ApplicationEndpoint {
    pub(super) fn read(setup: &Setup<'_>) -> Option<Self> {
        setup
            .services
            .get::<SlackClient>()
            .map(|slack| ApplicationEndpoint {
                slack,
                hosts: setup.settings.enrichment.clone(),
                operator: setup.operator.clone(),
            })
    }
}

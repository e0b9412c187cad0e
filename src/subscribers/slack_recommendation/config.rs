//! What `slack-recommendation` reads: no variable of its own. It is configured
//! when the shared Slack client is (`SLACK_TOKEN` or `SLACK_WEB_HOOK`, see
//! `crate::slack`), and renders with the operator's templates.

use super::SlackRecommendation;
use crate::slack::SlackClient;
use crate::subscribers::Setup;

impl SlackRecommendation {
    pub(super) fn read(setup: &Setup<'_>) -> Option<Self> {
        setup
            .services
            .get::<SlackClient>()
            .map(|slack| SlackRecommendation {
                slack,
                operator: setup.operator.clone(),
            })
    }
}

//! The message `slack-recommendation` posts for a recommendation: the
//! operator's template (or the built-in one) to each planned channel.

use super::SlackRecommendation;
use crate::domain::Recommendation;
use crate::slack::{SlackMessage, Unrendered};
use crate::subscribers::{Subscriber, Work};

impl SlackRecommendation {
    /// The message to each planned channel.
    pub(super) fn messages(&self, work: &Work<'_, Recommendation>) -> Unrendered {
        SlackMessage::planned(&self.operator, Self::ID, work)
    }
}

/// The recommendation message.
pub const TEMPLATE: &str = r#"{
  "text": {{ event.message | tojson }},
  "username": "Alvares",
  "icon_emoji": ":female_student:"
}"#;

inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "slack-recommendation",
        kind: crate::domain::EventKind::Recommendation,
        source: TEMPLATE,
        sample_values: crate::templates::no_sample_values,
    }
}

//! The message `slack-error` posts for a failed pipeline step: the
//! operator's template (or the built-in one) to each planned channel.

use super::SlackError;
use crate::domain::PipelineError;
use crate::slack::{SlackMessage, Unrendered};
use crate::subscribers::{Subscriber, Work};

impl SlackError {
    /// The message to each planned channel.
    pub(super) fn messages(&self, work: &Work<'_, PipelineError>) -> Unrendered {
        SlackMessage::planned(&self.operator, Self::ID, work)
    }
}

/// The error message, with its stack trace when it has one.
pub const TEMPLATE: &str = r#"{%- if event.stackTrace is defined and event.stackTrace -%}
{%- set text = "*" ~ event.message ~ "* ```\n" ~ event.stackTrace ~ "\n```" -%}
{%- else -%}
{%- set text = event.message -%}
{%- endif -%}
{
  "text": {{ text | tojson }},
  "username": "Alvares Error",
  "icon_emoji": ":no_entry:"
}"#;

inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "slack-error",
        kind: crate::domain::EventKind::Error,
        source: TEMPLATE,
        sample_values: crate::templates::no_sample_values,
    }
}

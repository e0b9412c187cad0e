//! The error message, built without I/O.

use crate::domain::event::PipelineError;
use crate::subscribers::slack::SlackMessage;

/// The message alone, or `*message* ` and the trace in a code block.
pub fn text(error: &PipelineError) -> String {
    match error.stack_trace.as_deref().filter(|t| !t.is_empty()) {
        None => error.message.clone(),
        Some(trace) => format!("*{}* ```\n{trace}\n```", error.message),
    }
}

pub fn messages(channels: &[String], error: &PipelineError) -> Vec<SlackMessage> {
    SlackMessage::to_each(channels, &text(error), "Alvares Error", ":no_entry:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_goes_in_a_code_block() {
        let error = PipelineError {
            message: "An error occured".into(),
            stack_trace: Some("This is a multiline\nstack trace".into()),
            ..Default::default()
        };
        assert_eq!(
            text(&error),
            "*An error occured* ```\nThis is a multiline\nstack trace\n```"
        );
    }

    #[test]
    fn without_a_trace_the_message_stands_alone() {
        let error = PipelineError {
            message: "Build failed".into(),
            ..Default::default()
        };
        assert_eq!(text(&error), "Build failed");
    }
}

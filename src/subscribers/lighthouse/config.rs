//! The Lighthouse variables (Slack's are read from the shared Slack config).

use crate::config::variables::{VariablesOf, allowed, receives};
use envconfig::Envconfig;

#[derive(Envconfig, Debug)]
pub struct LighthouseConfig {
    /// The scanner image run with Docker.
    #[envconfig(from = "LIGHTHOUSE_IMAGE", default = "kthse/kth-lighthouse:latest")]
    pub image: String,
    /// Another runner instead of Docker: whitespace-separated words, with
    /// `{url}` and `{report_dir}` replaced inside each word.
    #[envconfig(from = "LIGHTHOUSE_COMMAND")]
    pub command: Option<String>,
    /// A scan running longer than this is stopped and counts as failed.
    #[envconfig(from = "LIGHTHOUSE_TIMEOUT_SECONDS", default = "300")]
    pub timeout_seconds: u64,
}

// The variables it reads, declared for the operator file's `[settings]`
// and the redactor (see `crate::config::variables`).
inventory::submit! {
    VariablesOf(&[
        allowed("LIGHTHOUSE_IMAGE"),
        receives(
            "LIGHTHOUSE_COMMAND",
            "the program runs with every secret of the environment",
        ),
        allowed("LIGHTHOUSE_TIMEOUT_SECONDS"),
    ])
}

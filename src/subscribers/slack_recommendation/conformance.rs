//! `slack-recommendation` in the conformance test: posting through a Slack incoming
//! webhook whose path is the secret.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let hook = format!("{}/services/conformance-hook-secret", bench.base);
    Conformance::calling_out(&[("SLACK_WEB_HOOK", hook)], &["conformance-hook-secret"])
}

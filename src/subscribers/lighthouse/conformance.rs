//! `lighthouse` in the conformance test: a scanner that writes the
//! fixture report, and the report posted through the Slack Web API with a
//! bot token.

use serde_json::json;

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let token = "xoxb-lighthouse-conformance-token";
    let script = bench.scratch.join("lighthouse-conformance.sh");
    let report = bench.fixtures.join("lighthouse-report.html");
    // The scanner's stand-in: it copies the fixture into the report folder
    // it is given (`$2`), as the real container writes its report there.
    let command = format!("/bin/sh {} {{url}} {{report_dir}}", script.display());
    let mut conformance = Conformance::calling_out(
        &[
            ("SLACK_TOKEN", token.to_owned()),
            ("SLACK_API_BASE_URL", format!("{}/api", bench.base)),
            ("LIGHTHOUSE_COMMAND", command),
        ],
        &[token],
    )
    .with_event_fields(json!({"testAccessibility": true}));
    conformance.files.push((
        script,
        format!("cp '{}' \"$2/report.html\"\n", report.display()),
    ));
    conformance
}

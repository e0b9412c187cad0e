//! `pagerduty` in the conformance test: one destination declared in the
//! operator file for errors and deployments, its integration key from the
//! environment and the Events API at the bench.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let key = "pagerduty-conformance-routing-key";
    let mut conformance = Conformance::calling_out(
        &[
            ("CONFORMANCE_PAGERDUTY_KEY", key.to_owned()),
            ("PAGERDUTY_EVENTS_URL", bench.base.to_owned()),
        ],
        &[key],
    );
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "pagerduty"
key_env = "CONFORMANCE_PAGERDUTY_KEY"
kinds = ["deployment", "error"]
"#
        .to_owned(),
    );
    conformance
}

//! `opsgenie` in the conformance test: one destination declared in the
//! operator file for errors and deployments, its API key from the
//! environment and the Alert API at the bench.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let key = "opsgenie-conformance-api-key-secret";
    let mut conformance = Conformance::calling_out(
        &[
            ("CONFORMANCE_OPSGENIE_KEY", key.to_owned()),
            ("OPSGENIE_API_URL", bench.base.to_owned()),
        ],
        &[key],
    );
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "opsgenie"
key_env = "CONFORMANCE_OPSGENIE_KEY"
kinds = ["deployment", "error"]
"#
        .to_owned(),
    );
    conformance
}

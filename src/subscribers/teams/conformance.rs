//! `teams` in the conformance test: one destination declared in the
//! operator file for every kind, its Workflows URL (whose path holds the
//! signature, a secret) from the environment.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let signature = "teams-conformance-signature-secret";
    let mut conformance = Conformance::calling_out(
        &[(
            "CONFORMANCE_TEAMS_URL",
            format!(
                "{}/workflows/a1b2/triggers/manual/paths/invoke?sig={signature}",
                bench.base
            ),
        )],
        &[signature],
    );
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "teams"
url_env = "CONFORMANCE_TEAMS_URL"
kinds = ["deployment", "error", "recommendation"]
"#
        .to_owned(),
    );
    conformance
}

//! `mattermost` in the conformance test: one destination declared in the
//! operator file for every kind, its incoming webhook's URL (whose key is
//! a secret) from the environment.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let key = "mattermost-conformance-key-secret";
    let mut conformance = Conformance::calling_out(
        &[(
            "CONFORMANCE_MATTERMOST_URL",
            format!("{}/hooks/{key}", bench.base),
        )],
        &[key],
    );
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "mattermost"
url_env = "CONFORMANCE_MATTERMOST_URL"
kinds = ["deployment", "error", "recommendation"]
"#
        .to_owned(),
    );
    conformance
}

//! `github` in the conformance test: one destination declared in the
//! operator file, its API at the bench, a token from the environment, the
//! conformance application mapped to a repository, and a version that ends
//! in a commit id in every event.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let token = "github_pat_conformance0123456789abcdef";
    let mut conformance = Conformance::calling_out(
        &[
            ("GITHUB_API_URL", bench.base.to_owned()),
            ("CONFORMANCE_GITHUB_TOKEN", token.to_owned()),
        ],
        &[token],
    )
    .with_event_fields(serde_json::json!({"version": "1.0_abc1234"}));
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "github"
key_env = "CONFORMANCE_GITHUB_TOKEN"
repositories = { conform = "kth/conform" }
kinds = ["deployment", "error"]
"#
        .to_owned(),
    );
    conformance
}

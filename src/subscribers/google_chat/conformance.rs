//! `google-chat` in the conformance test: one destination declared in the
//! operator file for every kind, its webhook URL (whose `key` and `token`
//! are secrets) from the environment.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let key = "AIzaSyConformanceKeySecret0123";
    let token = "google-chat-conformance-token-secret";
    let mut conformance = Conformance::calling_out(
        &[(
            "CONFORMANCE_GOOGLE_CHAT_URL",
            format!(
                "{}/v1/spaces/AAAAconform/messages?key={key}&token={token}",
                bench.base
            ),
        )],
        &[key, token],
    );
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "google-chat"
url_env = "CONFORMANCE_GOOGLE_CHAT_URL"
kinds = ["deployment", "error", "recommendation"]
"#
        .to_owned(),
    );
    conformance
}

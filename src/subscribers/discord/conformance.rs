//! `discord` in the conformance test: one destination declared in the
//! operator file for every kind, its webhook URL (whose last segment is
//! the token, a secret) from the environment.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let token = "discord-conformance-token-secret";
    let mut conformance = Conformance::calling_out(
        &[(
            "CONFORMANCE_DISCORD_URL",
            format!("{}/api/webhooks/1234567890/{token}", bench.base),
        )],
        &[token],
    );
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "discord"
url_env = "CONFORMANCE_DISCORD_URL"
kinds = ["deployment", "error", "recommendation"]
"#
        .to_owned(),
    );
    conformance
}

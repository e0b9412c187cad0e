//! `webhook` in the conformance test: one webhook declared in the operator
//! file for every kind, its URL (whose path is a secret), a signing secret
//! and an authorization header all from the environment.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let path = "webhook-conformance-path-secret";
    let signing = "whsec_Y29uZm9ybWFuY2Utc2lnbmluZy1zZWNyZXQ=";
    let bearer = "Bearer webhook-conformance-header-secret";
    let mut conformance = Conformance::calling_out(
        &[
            (
                "CONFORMANCE_WEBHOOK_URL",
                format!("{}/hooks/{path}", bench.base),
            ),
            ("CONFORMANCE_WEBHOOK_SECRET", signing.to_owned()),
            ("CONFORMANCE_WEBHOOK_AUTH", bearer.to_owned()),
        ],
        &[path, signing, "webhook-conformance-header-secret"],
    );
    conformance.operator_file = Some(
        r#"[[webhooks]]
name = "conformance"
url_env = "CONFORMANCE_WEBHOOK_URL"
kinds = ["deployment", "error", "recommendation"]
secret_env = "CONFORMANCE_WEBHOOK_SECRET"
headers_env = { Authorization = "CONFORMANCE_WEBHOOK_AUTH" }
"#
        .to_owned(),
    );
    conformance
}

//! `email` in the conformance test: one destination declared in the
//! operator file for every kind. It speaks SMTP, not HTTP, so the bench's
//! HTTP mock never answers it (`calls_out` is false); how it classifies
//! a server's replies and keeps its password out is tested against a real
//! SMTP server (tests/api/email.rs).

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(_bench: &ConformanceBench<'_>) -> Conformance {
    let password = "email-conformance-password";
    let mut conformance = Conformance::calling_out(
        &[(
            "CONFORMANCE_SMTP_URL",
            format!("smtp://alvares:{password}@127.0.0.1:9?tls=none"),
        )],
        &[password],
    );
    conformance.calls_out = false;
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "email"
url_env = "CONFORMANCE_SMTP_URL"
from = "alvares@example.org"
to = ["ops@example.org"]
kinds = ["deployment", "error", "recommendation"]
"#
        .to_owned(),
    );
    conformance
}

//! `grafana` in the conformance test: one destination declared in the
//! operator file for every kind, the Grafana at the bench and a service
//! account token from the environment.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let token = "glsa_conformanceServiceAccountToken_0123abcd";
    let mut conformance = Conformance::calling_out(
        &[
            ("CONFORMANCE_GRAFANA_URL", bench.base.to_owned()),
            ("CONFORMANCE_GRAFANA_TOKEN", token.to_owned()),
        ],
        &[token],
    );
    conformance.operator_file = Some(
        r#"[[destinations]]
name = "conformance"
type = "grafana"
url_env = "CONFORMANCE_GRAFANA_URL"
key_env = "CONFORMANCE_GRAFANA_TOKEN"
kinds = ["deployment", "error", "recommendation"]
"#
        .to_owned(),
    );
    conformance
}

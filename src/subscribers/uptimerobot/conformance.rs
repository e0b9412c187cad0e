//! `uptimerobot` in the conformance test: its API key in the form body,
//! monitoring the cluster the test events name.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let key = "utr-conformance-key";
    Conformance::calling_out(
        &[
            ("UTR_API_KEY", key.to_owned()),
            ("UTR_API_BASE_URL", format!("{}/v2", bench.base)),
            ("UTR_CLUSTERS", "active".to_owned()),
        ],
        &[key],
    )
}

//! `detectify` in the conformance test: its API key in a header, scanning
//! the profile the test deployment names in the cluster it names.

use serde_json::json;

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let key = "detectify-conformance-key";
    Conformance::calling_out(
        &[
            ("DETECTIFY_API_KEYS", key.to_owned()),
            ("DETECTIFY_API_BASE_URL", format!("{}/rest/v2", bench.base)),
            ("DETECTIFY_CLUSTERS", "active".to_owned()),
        ],
        &[key],
    )
    .with_event_fields(json!({"detectifyProfileTokens": "token-a"}))
}

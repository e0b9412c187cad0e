//! `flottsbro` in the conformance test: its key in the `api_key` header.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let key = "flottsbro-conformance-key";
    Conformance::calling_out(
        &[
            ("FLOTTSBRO_API_KEY", key.to_owned()),
            (
                "FLOTTSBRO_API_BASE_URL",
                format!("{}/api/pipeline", bench.base),
            ),
        ],
        &[key],
    )
}

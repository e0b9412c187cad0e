//! `throwaway` in the conformance test.

use alvares::subscribers::{Conformance, ConformanceBench};

pub fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
    let token = "throwaway-conformance-token";
    Conformance::calling_out(
        &[
            ("THROWAWAY_TOKEN", token.to_owned()),
            ("THROWAWAY_BASE_URL", bench.base.to_owned()),
        ],
        &[token],
    )
}

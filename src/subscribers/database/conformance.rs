//! `database` in the conformance test: it writes to the service's own
//! store, so it needs nothing configured and calls nobody.

use crate::subscribers::{Conformance, ConformanceBench};

pub fn conformance(_bench: &ConformanceBench<'_>) -> Conformance {
    Conformance {
        runs_unconfigured: true,
        ..Conformance::default()
    }
}

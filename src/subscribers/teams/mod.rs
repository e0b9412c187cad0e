//! `teams-<name>`: a Microsoft Teams channel, through a Workflows webhook
//! ("When a Teams webhook request is received"; the Office 365 connectors
//! are retired). Each event is one message holding an Adaptive Card: the
//! deployment with its facts, change and log link, an error with its
//! trace, a recommendation. Declared in the operator file:
//!
//! ```toml
//! [[destinations]]
//! name = "platform"
//! type = "teams"
//! url_env = "PLATFORM_TEAMS_URL"
//! ```
//!
//! Everything else (planning, pace, retries, the answer) is the shared
//! chat layer's (`crate::chat`); here are the type and its templates.

pub mod config;
pub mod conformance;
pub mod payload;

use crate::chat::ChatFormat;
use crate::config::RateLimit;
use crate::subscribers::{Conformance, ConformanceBench};

/// Microsoft Teams.
pub struct Teams;

/// Teams throttles a webhook past about four requests a second
/// (Microsoft Learn, "Create an Incoming Webhook": rate limiting for
/// connectors; Workflows keeps the same transaction limits).
pub const TEAMS_RATE_LIMIT: RateLimit = RateLimit::new(4, 1, 4);

impl ChatFormat for Teams {
    const TYPE: &'static str = "teams";

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }
}

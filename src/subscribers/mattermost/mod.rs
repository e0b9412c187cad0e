//! `mattermost-<name>`: a Mattermost channel, through an incoming webhook
//! (`POST /hooks/{key}`, a Slack-compatible body, answered `200 ok`). Each
//! event is one message with one attachment, as Slack's: the deployment
//! with its fields, change and log link, an error with its trace, a
//! recommendation. Mattermost reads Markdown and `@channel`, `@here`,
//! `@all` and `@user` mentions in it: event text is Markdown-escaped and
//! every `@` in it is kept from mentioning.
//!
//! ```toml
//! [[destinations]]
//! name = "ops"
//! type = "mattermost"
//! url_env = "OPS_MATTERMOST_URL"
//! ```

pub mod config;
pub mod conformance;
pub mod payload;

use crate::chat::ChatFormat;
use crate::config::RateLimit;
use crate::subscribers::{Conformance, ConformanceBench};

/// Mattermost.
pub struct Mattermost;

/// Mattermost's server limits each client to 10 requests a second, bursts
/// of 100 (its configuration's `RateLimitSettings` defaults).
pub const MATTERMOST_RATE_LIMIT: RateLimit = RateLimit::new(10, 1, 100);

impl ChatFormat for Mattermost {
    const TYPE: &'static str = "mattermost";

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }
}

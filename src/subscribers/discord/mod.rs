//! `discord-<name>`: a Discord channel, through a channel webhook
//! (`POST /api/webhooks/{id}/{token}`, answered `204 No Content`). Each
//! event is one message with one embed: the deployment with its fields,
//! change and log link (the title), an error with its trace, a
//! recommendation. Mentions never ping (`allowed_mentions: {"parse": []}`)
//! and event text is Markdown-escaped. A 429's wait is read from its JSON
//! body (`retry_after`) when its headers give none (the engine's rule).
//!
//! ```toml
//! [[destinations]]
//! name = "ops"
//! type = "discord"
//! url_env = "OPS_DISCORD_URL"
//! ```

pub mod config;
pub mod conformance;
pub mod payload;

use crate::chat::ChatFormat;
use crate::config::RateLimit;
use crate::subscribers::{Conformance, ConformanceBench};

/// Discord.
pub struct Discord;

/// A Discord channel takes 30 webhook messages a minute, at most 5 in two
/// seconds (its documentation, "Rate Limits", and the limits it reports in
/// `X-RateLimit-*`); a 429 says how long to wait.
pub const DISCORD_RATE_LIMIT: RateLimit = RateLimit::new(1, 2, 5);

impl ChatFormat for Discord {
    const TYPE: &'static str = "discord";

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }
}

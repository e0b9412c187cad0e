//! `google-chat-<name>`: a Google Chat space, through an incoming webhook
//! (`POST https://chat.googleapis.com/v1/spaces/{space}/messages?key=…&token=…`,
//! answered `200` with the message created). Each event is one message
//! with one card (`cardsV2`): the deployment with its facts, change and a
//! "Search logs" button, an error with its trace, a recommendation. Card
//! text is Google Chat's HTML subset: event text is HTML-escaped.
//!
//! ```toml
//! [[destinations]]
//! name = "platform"
//! type = "google-chat"
//! url_env = "PLATFORM_CHAT_URL"
//! ```

pub mod config;
pub mod conformance;
pub mod payload;

use crate::chat::ChatFormat;
use crate::config::RateLimit;
use crate::subscribers::{Conformance, ConformanceBench};

/// Google Chat.
pub struct GoogleChat;

/// Google Chat takes one message a second per space from a webhook
/// (Google's documentation, "Usage limits": per-space write limits).
pub const GOOGLE_CHAT_RATE_LIMIT: RateLimit = RateLimit::new(1, 1, 1);

impl ChatFormat for GoogleChat {
    const TYPE: &'static str = "google-chat";

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }
}

//! Slack, a service shared by the integrations that post there (it lives
//! beside them, not in the delivery engine, which knows no integration):
//! the one client (`client.rs`) with its shared channel pace, messages
//! (`message.rs`), which channels a message goes to (`channels.rs`, asked
//! when an event is planned), channel names to ids (`directory.rs`) and
//! file uploads (`upload.rs`). The client sends
//! messages (an incoming webhook, or `chat.postMessage` on the Web API when
//! `SLACK_TOKEN` is set), `conversations.list` (channel names to ids,
//! cached) and the external file upload flow.
//!
//! Pace: each subscriber keeps its own rate limit, and in addition a
//! channel's pace (Slack allows about one message a second per channel) is
//! held across every subscriber that posts to it, in this process. A 429
//! pauses the channel for all of them for `Retry-After` (capped by
//! `MAX_RETRY_AFTER_SECONDS`), and the message is sent again after the
//! pause, never dropped. `"ok": false` from the Web API is a failure even
//! with HTTP 200; only a few of its errors are worth retrying.
//!
//! Every message sent is within Slack's documented limits (its text at
//! 40,000 characters, Block Kit texts at their block's limit): a longer
//! text is cut with `… (truncated)` (see `domain::slack_text`), never
//! refused.

mod channels;
mod client;
mod directory;
mod message;
mod upload;

use std::time::Duration;

use envconfig::Envconfig;

use crate::config::{HttpUrl, List, RateLimit, Secret};

pub use channels::deployment_channels;
pub use client::{SlackClient, WebApiBody};
pub use directory::channel_page;
pub use message::{SlackMessage, Unrendered};
pub use upload::{FileUpload, complete_upload_body};

/// Slack's pace per channel: about one message a second, bursts of three.
/// It is each Slack subscriber's own default (`RATE_LIMITS` group `slack`)
/// and the pace of a channel across all of them (`slack-channel`, else
/// the `slack` group's setting).
pub const SLACK_RATE_LIMIT: RateLimit = RateLimit::new(1, 1, 3);
/// The `RATE_LIMITS` group of every Slack subscriber.
pub const SLACK_GROUP: &str = "slack";
/// The `RATE_LIMITS` name of the pace a channel keeps across subscribers.
pub const CHANNEL_PACE: &str = "slack-channel";
/// 429s answered in a row for one message before the attempt gives up
/// (and defers the delivery).
const MOST_RATE_LIMITED_TRIES: usize = 5;
/// Slack's answer when a 429 gives no `Retry-After`.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// How long a resolved channel list is trusted when a name is missing
/// from it (a channel created since is found after this).
const CHANNEL_LIST_MAX_AGE: Duration = Duration::from_secs(60);
/// `conversations.list` pages read at most.
const MOST_CHANNEL_PAGES: usize = 50;

/// The Slack variables.
#[derive(Envconfig, Debug)]
pub struct SlackConfig {
    /// Legacy or app incoming webhook; used when there is no `SLACK_TOKEN`.
    #[envconfig(from = "SLACK_WEB_HOOK")]
    pub web_hook: Option<Secret<HttpUrl>>,
    /// Bot token: messages go through `chat.postMessage` when set.
    #[envconfig(from = "SLACK_TOKEN")]
    pub token: Option<Secret<String>>,
    #[envconfig(from = "SLACK_API_BASE_URL", default = "https://slack.com/api")]
    pub api_base_url: HttpUrl,
    /// When set, the only channel of every Slack message.
    #[envconfig(from = "SLACK_CHANNEL_OVERRIDE")]
    pub channel_override: Option<String>,
    /// Channels every deployment message goes to (and errors without their
    /// own channels).
    #[envconfig(from = "SLACK_CHANNELS", default = "")]
    pub channels: List,
}

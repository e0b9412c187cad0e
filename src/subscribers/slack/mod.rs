//! What every Slack subscriber shares: the configuration, the message
//! shape, the channel override rule and the sender (webhook or Web API).

pub mod config;
pub mod message;
pub mod sender;

pub use message::{SlackAttachment, SlackMessage};
pub use sender::SlackSender;

use super::rate_limit::RateLimit;

/// About one message a second per channel, bursts of three.
pub const SLACK_RATE_LIMIT: RateLimit = RateLimit::new(1, 1, 3);

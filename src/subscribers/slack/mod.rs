//! What every Slack subscriber shares: the configuration, the message
//! shape, the channel override rule and the sender (webhook or Web API).

pub mod config;
pub mod message;
pub mod sender;

pub use message::{SlackAttachment, SlackMessage};
pub use sender::SlackSender;

//! What a Discord destination reads: its `[[destinations]]` entry (`type =
//! "discord"`, the variable holding its webhook URL, kinds, when, pace),
//! declared here as a type the operator file knows, and `GRAYLOG_HOST`
//! for the log link (the chat layer's).

use super::{DISCORD_RATE_LIMIT, Discord};
use crate::chat::ChatFormat;

inventory::submit! {
    crate::config::file::DestinationType {
        name: Discord::TYPE,
        default_rate_limit: DISCORD_RATE_LIMIT,
        credential: crate::config::file::Credential::Url,
    }
}

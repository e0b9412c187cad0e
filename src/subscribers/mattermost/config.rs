//! What a Mattermost destination reads: its `[[destinations]]` entry
//! (`type = "mattermost"`, the variable holding its incoming webhook's URL,
//! kinds, when, pace), declared here as a type the operator file knows,
//! and `GRAYLOG_HOST` for the log link (the chat layer's).

use super::{MATTERMOST_RATE_LIMIT, Mattermost};
use crate::chat::ChatFormat;

inventory::submit! {
    crate::config::file::DestinationType {
        name: Mattermost::TYPE,
        default_rate_limit: MATTERMOST_RATE_LIMIT,
        credential: crate::config::file::Credential::Url,
    }
}

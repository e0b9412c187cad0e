//! What a Google Chat destination reads: its `[[destinations]]` entry
//! (`type = "google-chat"`, the variable holding its webhook URL, kinds,
//! when, pace), declared here as a type the operator file knows, and
//! `GRAYLOG_HOST` for the log link (the chat layer's).

use super::{GOOGLE_CHAT_RATE_LIMIT, GoogleChat};
use crate::chat::ChatFormat;

inventory::submit! {
    crate::config::file::DestinationType {
        name: GoogleChat::TYPE,
        default_rate_limit: GOOGLE_CHAT_RATE_LIMIT,
        credential: crate::config::file::Credential::Url,
    }
}

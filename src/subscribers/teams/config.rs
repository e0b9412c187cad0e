//! What a Teams destination reads: its `[[destinations]]` entry (`type =
//! "teams"`, the variable holding its Workflows URL, kinds, when, pace),
//! declared here as a type the operator file knows, and `GRAYLOG_HOST`
//! for the log link (the chat layer's).

use super::{TEAMS_RATE_LIMIT, Teams};
use crate::chat::ChatFormat;

inventory::submit! {
    crate::config::file::DestinationType {
        name: Teams::TYPE,
        default_rate_limit: TEAMS_RATE_LIMIT,
        credential: crate::config::file::Credential::Url,
    }
}

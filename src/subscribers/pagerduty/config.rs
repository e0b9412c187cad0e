//! What a PagerDuty destination reads: its `[[destinations]]` entry
//! (`type = "pagerduty"`, `key_env` naming the variable that holds the
//! service's Events API v2 integration key, kinds, when, pace), and
//! `PAGERDUTY_EVENTS_URL`, where the key is sent (so environment-only).

use envconfig::Envconfig;

use super::{PAGERDUTY_RATE_LIMIT, PagerDuty};
use crate::config::HttpUrl;
use crate::config::variables::{VariablesOf, receives};
use crate::subscribers::Subscriber;

#[derive(Envconfig, Debug)]
pub struct PagerDutyConfig {
    /// The Events API's base URL.
    #[envconfig(
        from = "PAGERDUTY_EVENTS_URL",
        default = "https://events.pagerduty.com"
    )]
    pub events_url: HttpUrl,
}

inventory::submit! {
    VariablesOf(&[
        receives("PAGERDUTY_EVENTS_URL", "the destinations' integration keys are sent there"),
    ])
}

inventory::submit! {
    crate::config::file::DestinationType {
        name: PagerDuty::ID,
        default_rate_limit: PAGERDUTY_RATE_LIMIT,
        credential: crate::config::file::Credential::Key {
            endpoint: "PagerDuty Events API v2",
        },
    }
}

//! What an Opsgenie destination reads: its `[[destinations]]` entry
//! (`type = "opsgenie"`, `key_env` naming the variable that holds the
//! team's API integration key (sent as `GenieKey`), kinds, when, pace), and
//! `OPSGENIE_API_URL`, where the key is sent (so environment-only).

use envconfig::Envconfig;

use super::{OPSGENIE_RATE_LIMIT, Opsgenie};
use crate::config::HttpUrl;
use crate::config::variables::{VariablesOf, receives};
use crate::subscribers::Subscriber;

#[derive(Envconfig, Debug)]
pub struct OpsgenieConfig {
    /// The Alert API's base URL (`https://api.eu.opsgenie.com` in the EU).
    #[envconfig(from = "OPSGENIE_API_URL", default = "https://api.opsgenie.com")]
    pub api_url: HttpUrl,
}

inventory::submit! {
    VariablesOf(&[
        receives("OPSGENIE_API_URL", "the destinations' API keys are sent there"),
    ])
}

inventory::submit! {
    crate::config::file::DestinationType {
        name: Opsgenie::ID,
        default_rate_limit: OPSGENIE_RATE_LIMIT,
        credential: crate::config::file::Credential::Key {
            endpoint: "Opsgenie Alert API",
        },
    }
}

//! What a Grafana destination reads: its `[[destinations]]` entry (`type =
//! "grafana"`, `url_env` naming the variable that holds the Grafana's
//! address, `key_env` the one holding a service account token with
//! `annotations:write`, kinds, when, pace), declared here as a type the
//! operator file knows.

use super::{GRAFANA_RATE_LIMIT, Grafana};
use crate::subscribers::Subscriber;

inventory::submit! {
    crate::config::file::DestinationType {
        name: Grafana::ID,
        default_rate_limit: GRAFANA_RATE_LIMIT,
        credential: crate::config::file::Credential::UrlAndKey,
    }
}

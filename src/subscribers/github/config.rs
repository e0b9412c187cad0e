//! What a GitHub destination reads: its `[[destinations]]` entry (`type =
//! "github"`, `key_env` naming the variable that holds a token allowed to
//! write deployments, `repositories` mapping each application to its
//! repository, kinds, when, pace), and `GITHUB_API_URL`, where the token is
//! sent (so environment-only; a GitHub Enterprise Server's is
//! `https://<host>/api/v3`).

use envconfig::Envconfig;

use super::{GITHUB_RATE_LIMIT, GitHub};
use crate::config::HttpUrl;
use crate::config::variables::{VariablesOf, receives};
use crate::subscribers::Subscriber;

#[derive(Envconfig, Debug)]
pub struct GitHubConfig {
    /// The REST API's base URL.
    #[envconfig(from = "GITHUB_API_URL", default = "https://api.github.com")]
    pub api_url: HttpUrl,
    /// Where a success status's log link points (as Slack's).
    #[envconfig(from = "GRAYLOG_HOST", default = "https://graycloud.ite.kth.se")]
    pub graylog_host: HttpUrl,
}

inventory::submit! {
    VariablesOf(&[
        receives("GITHUB_API_URL", "the destinations' GitHub tokens are sent there"),
    ])
}

inventory::submit! {
    crate::config::file::DestinationType {
        name: GitHub::ID,
        default_rate_limit: GITHUB_RATE_LIMIT,
        credential: crate::config::file::Credential::KeyAndRepositories {
            endpoint: "GitHub REST API",
        },
    }
}

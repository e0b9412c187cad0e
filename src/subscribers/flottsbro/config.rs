//! The flottsbro variables.

use envconfig::Envconfig;

use crate::config::variables::{VariablesOf, receives, secret};
use crate::config::{HttpUrl, Secret};

#[derive(Envconfig, Debug)]
pub struct FlottsbroConfig {
    /// Sent as the `api_key` header; flottsbro is unconfigured without it.
    #[envconfig(from = "FLOTTSBRO_API_KEY")]
    pub api_key: Option<Secret<String>>,
    #[envconfig(
        from = "FLOTTSBRO_API_BASE_URL",
        default = "https://api-r.referens.sys.kth.se/api/pipeline"
    )]
    pub api_base_url: HttpUrl,
}

// The variables it reads, declared for the operator file's `[settings]`
// and the redactor (see `crate::config::variables`).
inventory::submit! {
    VariablesOf(&[
        secret("FLOTTSBRO_API_KEY"),
        receives("FLOTTSBRO_API_BASE_URL", "FLOTTSBRO_API_KEY is sent there"),
    ])
}

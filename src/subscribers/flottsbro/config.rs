//! The flottsbro variables.

use envconfig::Envconfig;

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

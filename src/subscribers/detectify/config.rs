//! The Detectify variables.

use envconfig::Envconfig;

use crate::config::variables::{SecretShape, VariablesOf, allowed, receives, secret, shaped};
use crate::config::{HttpUrl, List, Secret};

#[derive(Envconfig, Debug)]
pub struct DetectifyConfig {
    /// API keys, each tried for every token (secrets: never printed).
    #[envconfig(from = "DETECTIFY_API_KEYS", default = "")]
    pub api_keys: Secret<List>,
    /// Clusters whose deployments are scanned.
    #[envconfig(from = "DETECTIFY_CLUSTERS", default = "")]
    pub clusters: List,
    #[envconfig(
        from = "DETECTIFY_API_BASE_URL",
        default = "https://api.detectify.com/rest/v2"
    )]
    pub api_base_url: HttpUrl,
    /// Base64 signing secret; when set, every request is signed.
    #[envconfig(from = "DETECTIFY_API_SECRET")]
    pub api_secret: Option<Secret<String>>,
}

// The variables it reads, declared for the operator file's `[settings]`
// and the redactor (see `crate::config::variables`).
inventory::submit! {
    VariablesOf(&[
        shaped("DETECTIFY_API_KEYS", SecretShape::List),
        allowed("DETECTIFY_CLUSTERS"),
        receives(
            "DETECTIFY_API_BASE_URL",
            "DETECTIFY_API_KEYS are sent there",
        ),
        secret("DETECTIFY_API_SECRET"),
    ])
}

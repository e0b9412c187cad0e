//! The UptimeRobot variables.

use envconfig::Envconfig;

use crate::config::variables::{VariablesOf, allowed, receives, secret};
use crate::config::{HttpUrl, List, Secret};

#[derive(Envconfig, Debug)]
pub struct UptimeRobotConfig {
    /// The account's main API key.
    #[envconfig(from = "UTR_API_KEY")]
    pub api_key: Option<Secret<String>>,
    /// The original service's name for the key; used when `UTR_API_KEY` is
    /// not set.
    #[envconfig(from = "UPTIMEROBOT_API_KEY")]
    pub legacy_api_key: Option<Secret<String>>,
    #[envconfig(from = "UTR_API_BASE_URL", default = "https://api.uptimerobot.com/v2")]
    pub api_base_url: HttpUrl,
    /// Clusters whose deployments are monitored.
    #[envconfig(from = "UTR_CLUSTERS", default = "")]
    pub clusters: List,
    /// Applications never monitored (exact names).
    #[envconfig(from = "UTR_EXCLUDED_APPS", default = "")]
    pub excluded_apps: List,
    /// Public hosts that replace the cluster hosts in monitored URLs.
    #[envconfig(from = "UTR_KTH_APP_HOST")]
    pub kth_app_host: Option<HttpUrl>,
    #[envconfig(from = "UTR_KTH_API_HOST")]
    pub kth_api_host: Option<HttpUrl>,
    #[envconfig(from = "UTR_KTH_APP_HOST_STAGE")]
    pub kth_app_host_stage: Option<HttpUrl>,
    #[envconfig(from = "UTR_KTH_API_HOST_STAGE")]
    pub kth_api_host_stage: Option<HttpUrl>,
}

// The variables it reads, declared for the operator file's `[settings]`
// and the redactor (see `crate::config::variables`).
inventory::submit! {
    VariablesOf(&[
        secret("UTR_API_KEY"),
        secret("UPTIMEROBOT_API_KEY"),
        receives("UTR_API_BASE_URL", "UTR_API_KEY is sent there"),
        allowed("UTR_CLUSTERS"),
        allowed("UTR_EXCLUDED_APPS"),
        allowed("UTR_KTH_APP_HOST"),
        allowed("UTR_KTH_API_HOST"),
        allowed("UTR_KTH_APP_HOST_STAGE"),
        allowed("UTR_KTH_API_HOST_STAGE"),
    ])
}

use envconfig::Envconfig;

use crate::config::HttpUrl;
use crate::config::variables::{VariablesOf, allowed};

#[derive(Envconfig, Debug)]
pub struct SlackDeploymentConfig {
    /// Where the "Search Logs" link points.
    #[envconfig(from = "GRAYLOG_HOST", default = "https://graycloud.ite.kth.se")]
    pub graylog_host: HttpUrl,
}

// The variables it reads, declared for the operator file's `[settings]`
// and the redactor (see `crate::config::variables`).
inventory::submit! {
    VariablesOf(&[
        allowed("GRAYLOG_HOST"),
    ])
}

use envconfig::Envconfig;

use crate::config::HttpUrl;

#[derive(Envconfig, Debug)]
pub struct SlackDeploymentConfig {
    /// Where the "Search Logs" link points.
    #[envconfig(from = "GRAYLOG_HOST", default = "https://graycloud.ite.kth.se")]
    pub graylog_host: HttpUrl,
}

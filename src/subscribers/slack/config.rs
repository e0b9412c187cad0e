//! The Slack variables every Slack subscriber reads.

use envconfig::Envconfig;

use crate::config::{HttpUrl, List, Secret};

#[derive(Envconfig, Debug)]
pub struct SlackConfig {
    /// Legacy or app incoming webhook; used when there is no `SLACK_TOKEN`.
    #[envconfig(from = "SLACK_WEB_HOOK")]
    pub web_hook: Option<Secret<HttpUrl>>,
    /// Bot token: messages go through `chat.postMessage` when set.
    #[envconfig(from = "SLACK_TOKEN")]
    pub token: Option<Secret<String>>,
    #[envconfig(from = "SLACK_API_BASE_URL", default = "https://slack.com/api")]
    pub api_base_url: HttpUrl,
    /// When set, the only channel of every Slack message.
    #[envconfig(from = "SLACK_CHANNEL_OVERRIDE")]
    pub channel_override: Option<String>,
    /// Channels every deployment message goes to (and errors without their
    /// own channels).
    #[envconfig(from = "SLACK_CHANNELS", default = "")]
    pub channels: List,
}

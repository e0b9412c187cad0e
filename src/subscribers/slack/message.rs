//! The JSON body of one Slack message (`chat.postMessage` and webhooks take
//! the same fields).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackMessage {
    pub channel: String,
    pub text: String,
    pub username: String,
    pub icon_emoji: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<SlackAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackAttachment {
    pub fallback: String,
    pub color: String,
    pub author_name: String,
    pub author_link: String,
    pub title: String,
    pub text: String,
}

impl SlackMessage {
    /// The same text to each channel.
    pub fn to_each(
        channels: &[String],
        text: &str,
        username: &str,
        icon_emoji: &str,
    ) -> Vec<SlackMessage> {
        channels
            .iter()
            .map(|channel| SlackMessage {
                channel: channel.clone(),
                text: text.to_owned(),
                username: username.to_owned(),
                icon_emoji: icon_emoji.to_owned(),
                attachments: Vec::new(),
            })
            .collect()
    }
}

//! One Slack message (its channel and the fields a template rendered),
//! and messages chosen but not yet rendered.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::OperatorView;
use crate::domain::plan;
use crate::domain::slack_text;
use crate::engine::{Input, TemplateContext, Work};
use crate::error::DeliveryError;
use crate::templates::Templates;

/// The JSON body of one Slack message: its channel and the fields a
/// template rendered (`text`, `username`, `icon_emoji`, `attachments`,
/// `blocks`…; `chat.postMessage` and webhooks take the same ones).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SlackMessage {
    pub channel: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl SlackMessage {
    /// The same text to each channel (the service's own messages).
    pub fn to_each(
        channels: &[String],
        text: &str,
        username: &str,
        icon_emoji: &str,
    ) -> Vec<SlackMessage> {
        let mut fields = Map::new();
        fields.insert("text".into(), text.into());
        fields.insert("username".into(), username.into());
        fields.insert("icon_emoji".into(), icon_emoji.into());
        Self::addressed(channels, &fields)
    }

    /// The same fields to each channel, within Slack's limits (a text
    /// too long is cut with a marker).
    pub fn addressed(channels: &[String], fields: &Map<String, Value>) -> Vec<SlackMessage> {
        let mut fields = fields.clone();
        // The channel is the router's choice, never the template's.
        fields.remove("channel");
        slack_text::within_limits(&mut fields);
        channels
            .iter()
            .map(|channel| SlackMessage {
                channel: channel.clone(),
                fields: fields.clone(),
            })
            .collect()
    }

    /// This message within Slack's limits, however it was made.
    pub(super) fn within_limits(&self) -> SlackMessage {
        let mut message = self.clone();
        slack_text::within_limits(&mut message.fields);
        message
    }

    /// Template `name`, to be rendered once and addressed to each channel.
    /// A template that fails (a missing field, a limit reached) fails the
    /// delivery for good, naming its line: sending again would fail the
    /// same way.
    pub fn rendered(
        templates: &Templates,
        name: &str,
        context: TemplateContext,
        channels: &[String],
    ) -> Unrendered {
        Unrendered {
            templates: templates.clone(),
            name: name.to_owned(),
            context,
            channels: channels.to_vec(),
        }
    }

    /// A subscriber's message from its template (`name`, its id) to each
    /// channel planned for `work`, with what every template sees.
    pub fn planned<I: Input>(
        operator: &OperatorView,
        name: &str,
        work: &Work<'_, I>,
    ) -> Unrendered {
        let operator = operator.borrow().clone();
        let channels = plan::slack_channels(work.destinations);
        Self::rendered(
            &operator.templates,
            name,
            work.template_context(),
            &channels,
        )
    }

    /// Each message as the JSON body sent.
    pub fn as_json(messages: &[SlackMessage]) -> Vec<Value> {
        messages
            .iter()
            .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
            .collect()
    }

    pub fn text(&self) -> Option<&str> {
        self.fields.get("text").and_then(Value::as_str)
    }
}

/// Messages a subscriber chose to send, before their template is rendered.
pub struct Unrendered {
    templates: Templates,
    name: String,
    context: TemplateContext,
    channels: Vec<String>,
}

impl Unrendered {
    /// For a delivery: the render runs off the actor's thread, which goes
    /// on with its other work and timers meanwhile.
    pub async fn render(self) -> Result<Vec<SlackMessage>, DeliveryError> {
        if self.channels.is_empty() {
            return Ok(Vec::new());
        }
        let fields = self
            .templates
            .render_json_async(&self.name, &self.context)
            .await
            .map_err(|error| DeliveryError::Permanent(error.to_string()))?;
        Ok(SlackMessage::addressed(&self.channels, &fields))
    }

    /// For a preview: this thread waits for the render.
    pub fn render_waiting(self) -> Result<Vec<SlackMessage>, DeliveryError> {
        if self.channels.is_empty() {
            return Ok(Vec::new());
        }
        let fields = self
            .templates
            .render_json(&self.name, &self.context)
            .map_err(|error| DeliveryError::Permanent(error.to_string()))?;
        Ok(SlackMessage::addressed(&self.channels, &fields))
    }
}

//! The one Slack client every integration that posts to Slack uses:
//! messages (an incoming webhook, or `chat.postMessage` on the Web API when
//! `SLACK_TOKEN` is set), `conversations.list` (channel names to ids,
//! cached) and the external file upload flow.
//!
//! Pace: each subscriber keeps its own rate limit, and in addition a
//! channel's pace (Slack allows about one message a second per channel) is
//! held across every subscriber that posts to it, in this process. A 429
//! pauses the channel for all of them for `Retry-After` (capped by
//! `MAX_RETRY_AFTER_SECONDS`), and the message is sent again after the
//! pause, never dropped. `"ok": false` from the Web API is a failure even
//! with HTTP 200; only a few of its errors are worth retrying.
//!
//! Every message sent is within Slack's documented limits (its text at
//! 40,000 characters, Block Kit texts at their block's limit): a longer
//! text is cut with `… (truncated)` (see `domain::slack_text`), never
//! refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envconfig::Envconfig;
use serde::Serialize;
use serde_json::{Map, Value};

use super::outbound::{self, Answer, Body, BodyEnd, CallError};
use super::rate_limit::{LONGEST_INLINE_WAIT, Limiter, reserve_all, wait_in_place};
use super::subscriber::{DeliveryContext, DeliveryOutcome, Progress};
use crate::clock::SharedClock;
use crate::config::{ConfigError, HttpUrl, List, OperatorConfig, RateLimit, Secret, Settings};
use crate::domain::{Deployment, EventKind, slack_text};
use crate::error::DeliveryError;
use crate::templates::Templates;

/// Slack's pace per channel: about one message a second, bursts of three.
/// It is each Slack subscriber's own default (`RATE_LIMITS` group `slack`)
/// and the pace of a channel across all of them (`slack-channel`, else
/// the `slack` group's setting).
pub const SLACK_RATE_LIMIT: RateLimit = RateLimit::new(1, 1, 3);
/// The `RATE_LIMITS` group of every Slack subscriber.
pub const SLACK_GROUP: &str = "slack";
/// The `RATE_LIMITS` name of the pace a channel keeps across subscribers.
pub const CHANNEL_PACE: &str = "slack-channel";
/// 429s answered in a row for one message before the attempt gives up
/// (and defers the delivery).
const MOST_RATE_LIMITED_TRIES: usize = 5;
/// Slack's answer when a 429 gives no `Retry-After`.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// How long a resolved channel list is trusted when a name is missing
/// from it (a channel created since is found after this).
const CHANNEL_LIST_MAX_AGE: Duration = Duration::from_secs(60);
/// `conversations.list` pages read at most.
const MOST_CHANNEL_PAGES: usize = 50;

/// The Slack variables.
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
    fn within_limits(&self) -> SlackMessage {
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
        context: &Map<String, Value>,
        channels: &[String],
    ) -> Unrendered {
        Unrendered {
            templates: templates.clone(),
            name: name.to_owned(),
            context: context.clone(),
            channels: channels.to_vec(),
        }
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
    context: Map<String, Value>,
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

enum Transport {
    Webhook(Secret<HttpUrl>),
    WebApi,
}

/// A file to upload to a channel.
pub struct FileUpload<'a> {
    pub file_name: &'a str,
    pub title: &'a str,
    pub bytes: &'a [u8],
    pub comment: &'a str,
}

pub struct SlackClient {
    transport: Transport,
    api_base_url: String,
    token: Option<Secret<String>>,
    channel_override: Option<String>,
    configured_channels: Vec<String>,
    /// Each channel's pace, shared by every subscriber that posts to it.
    pace: Arc<Limiter>,
    /// Channel name (without `#`) to id, and when the list was read.
    channel_ids: Mutex<Option<(Instant, HashMap<String, String>)>>,
    clock: SharedClock,
}

/// How one send of a message ended.
enum Sent {
    Yes,
    RateLimited(Duration),
    Failed(DeliveryError),
}

impl SlackClient {
    /// `Ok(None)` when neither `SLACK_TOKEN` nor `SLACK_WEB_HOOK` is set.
    pub fn from_settings(
        settings: &Settings,
        clock: SharedClock,
    ) -> Result<Option<Arc<Self>>, ConfigError> {
        let config: SlackConfig = settings.env.load()?;
        let transport = match (&config.token, config.web_hook) {
            (Some(_), _) => Transport::WebApi,
            (None, Some(hook)) => Transport::Webhook(hook),
            (None, None) => return Ok(None),
        };
        let pace = settings.subscribers.rate_limits.resolve(
            CHANNEL_PACE,
            SLACK_GROUP,
            Some(SLACK_RATE_LIMIT),
        );
        Ok(Some(Arc::new(SlackClient {
            transport,
            api_base_url: config
                .api_base_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            token: config.token,
            channel_override: config.channel_override,
            configured_channels: config.channels.0,
            pace: Arc::new(Limiter::new(
                "Slack channels",
                pace,
                settings.subscribers.rate_limit_destinations,
                clock.clone(),
            )),
            channel_ids: Mutex::new(None),
            clock,
        })))
    }

    /// Whether the Web API (a bot token) is configured: needed for uploads.
    pub fn has_web_api(&self) -> bool {
        self.token.is_some()
    }

    /// The shared channel pace, for the admin API.
    pub fn pace(&self) -> &Arc<Limiter> {
        &self.pace
    }

    /// `SLACK_CHANNELS`, in order.
    pub fn configured_channels(&self) -> &[String] {
        &self.configured_channels
    }

    /// The channels a message really goes to. `built_in` is the
    /// subscriber's own choice; the operator's routes add to it (or, with
    /// `only`, replace it) when `routed` (the kind's main message), and
    /// their `never_channels` take channels out of every message.
    /// `SLACK_CHANNEL_OVERRIDE`, when set, still wins over all of it.
    pub fn channels(
        &self,
        operator: &OperatorConfig,
        routed: bool,
        kind: EventKind,
        event: &Value,
        built_in: Vec<String>,
    ) -> Vec<String> {
        if self.channel_override.is_some() {
            return self.overridden(built_in);
        }
        if routed {
            operator.slack_channels(kind, event, built_in)
        } else {
            operator.without_never_channels(kind, event, built_in)
        }
    }

    /// `SLACK_CHANNEL_OVERRIDE` instead of `chosen`, when it is set.
    pub fn overridden(&self, chosen: Vec<String>) -> Vec<String> {
        match &self.channel_override {
            Some(channel) => vec![channel.clone()],
            None => chosen,
        }
    }

    /// The channels of a deployment's messages before routes:
    /// `SLACK_CHANNELS` in order, then the deployment's own `#` channels
    /// not already listed.
    pub fn deployment_channels(&self, deployment: &Deployment) -> Vec<String> {
        deployment_channels(&self.configured_channels, deployment)
    }

    /// Sends every message not yet sent by an earlier attempt. A channel
    /// that fails does not stop the others; a transient failure anywhere
    /// makes the whole delivery retry (only the unsent messages).
    pub async fn post_all(
        &self,
        context: &DeliveryContext,
        progress: &Progress,
        messages: &[SlackMessage],
    ) -> Result<DeliveryOutcome, DeliveryError> {
        if messages.is_empty() {
            return Ok(DeliveryOutcome::Skipped(
                "no Slack channel to post to".into(),
            ));
        }
        let mut transient: Option<DeliveryError> = None;
        let mut rate_limited: Option<DeliveryError> = None;
        let mut permanent: Vec<String> = Vec::new();
        for message in messages {
            let step = format!("slack:{}", message.channel);
            if progress.is_done(&step) {
                continue;
            }
            match self.post(context, message).await {
                Ok(()) => progress.mark_done(&step),
                Err(DeliveryError::Permanent(reason)) => {
                    permanent.push(format!("{}: {reason}", message.channel));
                }
                Err(error @ DeliveryError::RateLimited { .. }) => {
                    rate_limited.get_or_insert(error);
                }
                Err(error) => {
                    transient.get_or_insert(error.prefixed(&format!("{}: ", message.channel)));
                }
            }
        }
        if let Some(error) = transient.or(rate_limited) {
            return Err(error);
        }
        if !permanent.is_empty() {
            return Err(DeliveryError::Permanent(permanent.join("; ")));
        }
        let channels: Vec<&str> = messages.iter().map(|m| m.channel.as_str()).collect();
        Ok(DeliveryOutcome::Delivered(format!(
            "Slack message to {}",
            channels.join(", ")
        )))
    }

    /// Takes the channel's turn in the subscriber's pace and the shared
    /// channel pace, waiting in place for a short wait; a long one defers
    /// the delivery (`RateLimited`).
    async fn take_turn(
        &self,
        context: &DeliveryContext,
        channel: &str,
    ) -> Result<(), DeliveryError> {
        let paces = [(&*context.limiter, channel), (&*self.pace, channel)];
        loop {
            let wait = reserve_all(&paces, self.clock.instant(), LONGEST_INLINE_WAIT)?;
            wait_in_place(wait).await;
            // A 429 may have paused the channel while this turn waited:
            // then the turn is taken again, behind the pause.
            if self.pace.paused_for(channel).is_zero() {
                return Ok(());
            }
        }
    }

    /// A 429 for a channel: every subscriber posting there pauses.
    fn pause(&self, channel: &str, pause: Duration) {
        log::warn!(
            "Slack rate-limited channel {channel}; every subscriber pauses it for {}s",
            pause.as_secs_f64()
        );
        self.pace.pause(channel, pause);
    }

    /// Sends one message when its channel's turn comes, waiting out short
    /// pauses; a long wait gives the delivery back (`RateLimited`).
    async fn post(
        &self,
        context: &DeliveryContext,
        message: &SlackMessage,
    ) -> Result<(), DeliveryError> {
        for _ in 0..MOST_RATE_LIMITED_TRIES {
            self.take_turn(context, &message.channel).await?;
            match self.send_once(context, message).await {
                Sent::Yes => return Ok(()),
                Sent::Failed(error) => return Err(error),
                Sent::RateLimited(pause) => self.pause(&message.channel, pause),
            }
        }
        Err(DeliveryError::RateLimited {
            reason: format!("Slack kept rate-limiting {}", message.channel),
            wait: DEFAULT_PAUSE,
        })
    }

    async fn send_once(&self, context: &DeliveryContext, message: &SlackMessage) -> Sent {
        let limited = message.within_limits();
        // An incoming webhook's status decides; the Web API's `ok` does.
        let sent = match &self.transport {
            Transport::Webhook(hook) => {
                let request = context.http.post(hook.expose().as_str());
                context
                    .send(request, Body::json(&limited), DEFAULT_PAUSE)
                    .await
            }
            Transport::WebApi => {
                let request =
                    self.authorized(context.http.post(self.method_url("chat.postMessage")));
                context
                    .send_and_read(request, Body::json(&limited), DEFAULT_PAUSE)
                    .await
            }
        };
        let answer = match sent {
            Ok(answer) => answer,
            Err(CallError::RateLimited { wait }) => return Sent::RateLimited(wait),
            Err(error) => return Sent::Failed(message_error(error)),
        };
        match &self.transport {
            Transport::Webhook(_) => Sent::Yes,
            Transport::WebApi => match web_api_answer(&answer, "Slack") {
                Ok(_) => Sent::Yes,
                Err(WebApiError::RateLimited) => Sent::RateLimited(DEFAULT_PAUSE),
                Err(WebApiError::Failed(error)) => Sent::Failed(error),
            },
        }
    }

    fn method_url(&self, method: &str) -> String {
        format!("{}/{method}", self.api_base_url)
    }

    fn authorized(&self, request: awc::ClientRequest) -> awc::ClientRequest {
        match &self.token {
            Some(token) => {
                request.insert_header(("Authorization", format!("Bearer {}", token.expose())))
            }
            None => request,
        }
    }

    /// One Web API call with the bot token; `"ok": false` is a failure.
    pub async fn web_api(
        &self,
        context: &DeliveryContext,
        method: &str,
        body: WebApiBody<'_>,
    ) -> Result<Value, DeliveryError> {
        if self.token.is_none() {
            return Err(DeliveryError::permanent(format!(
                "Slack {method} needs SLACK_TOKEN"
            )));
        }
        let what = format!("Slack {method}");
        let url = self.method_url(method);
        let answer = match body {
            WebApiBody::Query(query) => {
                let request = self.authorized(context.http.get(format!("{url}?{query}")));
                context
                    .send_and_read(request, Body::Empty, DEFAULT_PAUSE)
                    .await
            }
            WebApiBody::Form(form) => {
                let request = self.authorized(context.http.post(url));
                context
                    .send_and_read(request, Body::Form(form), DEFAULT_PAUSE)
                    .await
            }
            WebApiBody::Json(json) => {
                let request = self.authorized(context.http.post(url));
                context
                    .send_and_read(request, Body::json(json), DEFAULT_PAUSE)
                    .await
            }
        }
        .map_err(|error| error.delivery_error(&what))?;
        match web_api_answer(&answer, &what) {
            Ok(Some(value)) => Ok(value),
            // This call's answer is its value: one too large to read is
            // as large the next time.
            Ok(None) => Err(DeliveryError::permanent(format!(
                "{what} answered ok, but with more than {} (the most an answer is read)",
                outbound::size(outbound::MOST_ANSWER_BYTES)
            ))),
            Err(WebApiError::RateLimited) => Err(DeliveryError::Transient {
                reason: format!("{what} answered ok:false (ratelimited)"),
                retry_after: Some(DEFAULT_PAUSE),
            }),
            Err(WebApiError::Failed(error)) => Err(error),
        }
    }

    /// A channel's id: `#name` looked up in `conversations.list` (read
    /// again when a name is missing and the list is over a minute old); a
    /// value without `#` that names no channel is taken as an id.
    pub async fn channel_id(
        &self,
        context: &DeliveryContext,
        channel: &str,
    ) -> Result<String, DeliveryError> {
        let name = channel.trim_start_matches('#');
        let cached = || -> (Option<String>, bool) {
            match &*self
                .channel_ids
                .lock()
                .expect("the channel cache is never poisoned")
            {
                Some((read_at, ids)) => (
                    ids.get(name).cloned(),
                    self.clock.instant().saturating_duration_since(*read_at) < CHANNEL_LIST_MAX_AGE,
                ),
                None => (None, false),
            }
        };
        let (found, fresh) = cached();
        if let Some(id) = found {
            return Ok(id);
        }
        if !fresh {
            let ids = self.read_channel_list(context).await?;
            *self
                .channel_ids
                .lock()
                .expect("the channel cache is never poisoned") = Some((self.clock.instant(), ids));
            if let (Some(id), _) = cached() {
                return Ok(id);
            }
        }
        if !channel.starts_with('#') {
            return Ok(channel.to_owned());
        }
        Err(DeliveryError::permanent(format!(
            "channel {channel} not found by conversations.list (is the Slack app in it?)"
        )))
    }

    async fn read_channel_list(
        &self,
        context: &DeliveryContext,
    ) -> Result<HashMap<String, String>, DeliveryError> {
        let mut ids = HashMap::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MOST_CHANNEL_PAGES {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("limit", "1000")
                .append_pair("exclude_archived", "true")
                .append_pair("types", "public_channel,private_channel");
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
            let answer = self
                .web_api(
                    context,
                    "conversations.list",
                    WebApiBody::Query(query.finish()),
                )
                .await?;
            let (page, next) = channel_page(&answer);
            ids.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(ids)
    }

    /// Uploads a file to one channel with the external upload flow
    /// (`files.getUploadURLExternal`, the bytes, then
    /// `files.completeUploadExternal`), in the channel's pace.
    pub async fn upload(
        &self,
        context: &DeliveryContext,
        channel: &str,
        file: &FileUpload<'_>,
    ) -> Result<(), DeliveryError> {
        let channel_id = self.channel_id(context, channel).await?;
        let form = [
            ("filename", file.file_name.to_owned()),
            ("length", file.bytes.len().to_string()),
        ];
        let answer = self
            .web_api(
                context,
                "files.getUploadURLExternal",
                WebApiBody::Form(&form),
            )
            .await?;
        let (Some(upload_url), Some(file_id)) =
            (answer["upload_url"].as_str(), answer["file_id"].as_str())
        else {
            return Err(DeliveryError::permanent(
                "Slack files.getUploadURLExternal answered without upload_url or file_id",
            ));
        };
        let request = context.http.post(upload_url);
        let stored = context
            .send(
                request,
                Body::Bytes(
                    actix_web::web::Bytes::copy_from_slice(file.bytes),
                    "application/octet-stream",
                ),
                DEFAULT_PAUSE,
            )
            .await
            .map_err(|error| error.delivery_error("uploading the report"))?;
        if stored.status.as_u16() != 200 {
            return Err(DeliveryError::permanent(format!(
                "uploading the report: HTTP {}",
                stored.status.as_u16()
            )));
        }
        // Completing the upload posts to the channel: it takes a turn.
        self.take_turn(context, channel).await?;
        let body = complete_upload_body(file_id, file.title, &channel_id, file.comment);
        self.web_api(
            context,
            "files.completeUploadExternal",
            WebApiBody::Json(&body),
        )
        .await?;
        Ok(())
    }
}

/// `configured` in order, then the deployment's `#` channels not already
/// listed.
pub fn deployment_channels(configured: &[String], deployment: &Deployment) -> Vec<String> {
    let mut channels: Vec<String> = configured.to_vec();
    for channel in deployment.deployment_slack_channels() {
        if !channels.iter().any(|c| c == channel) {
            channels.push(channel.to_owned());
        }
    }
    channels
}

/// The `files.completeUploadExternal` body.
pub fn complete_upload_body(file_id: &str, title: &str, channel_id: &str, comment: &str) -> Value {
    serde_json::json!({
        "files": [{"id": file_id, "title": title}],
        "channel_id": channel_id,
        "initial_comment": slack_text::truncated(comment, slack_text::MESSAGE_TEXT_LIMIT),
    })
}

/// What a Web API call sends.
pub enum WebApiBody<'a> {
    Query(String),
    Form(&'a [(&'a str, String)]),
    Json(&'a Value),
}

enum WebApiError {
    RateLimited,
    Failed(DeliveryError),
}

/// How a failed message send is worded (the channel is added by the
/// caller): `Slack answered HTTP 503`, `… HTTP 404: channel_not_found`.
fn message_error(error: CallError) -> DeliveryError {
    let text = match &error {
        CallError::Network(problem) => problem.clone(),
        CallError::Refused { status, .. } if *status >= 500 => {
            format!("Slack answered HTTP {status}")
        }
        CallError::Refused { status, excerpt } if excerpt.is_empty() => {
            format!("Slack answered HTTP {status}")
        }
        CallError::Refused { status, excerpt } => {
            format!("Slack answered HTTP {status}: {excerpt}")
        }
        CallError::Redirect { status, location } => format!(
            "Slack answered HTTP {status} redirect to {location}; redirects are not followed"
        ),
        CallError::RateLimited { wait } => {
            format!("Slack answered HTTP 429; retry in {}s", wait.as_secs())
        }
    };
    error.into_delivery_error(text)
}

/// Reads a Web API answer (HTTP 2xx): `"ok": true` is the value, `"ok":
/// false` a failure (only a few of its errors are worth retrying).
///
/// An answer longer than is read ([`outbound::MOST_ANSWER_BYTES`]) is
/// decided by its leading `"ok"` field (Slack writes it first): `true` is
/// a success whose value is not read (`Ok(None)`), `false` a failure.
/// Without one it is not a Web API answer, and sending again would get
/// the same: a permanent failure, never a retry that posts again. A whole
/// answer that is not JSON (a proxy's page) is retried.
fn web_api_answer(answer: &Answer, what: &str) -> Result<Option<Value>, WebApiError> {
    let value = match (&answer.end, answer.json()) {
        (_, Some(value)) => value,
        (BodyEnd::Cut, None) => {
            return match leading_ok(&answer.body) {
                Some(true) => Ok(None),
                Some(false) => Err(WebApiError::Failed(DeliveryError::permanent(format!(
                    "{what} answered ok:false (in an answer over {})",
                    outbound::size(outbound::MOST_ANSWER_BYTES)
                )))),
                None => Err(WebApiError::Failed(DeliveryError::permanent(format!(
                    "{what} answered HTTP {} with over {} that is not a Web API answer: {}",
                    answer.status.as_u16(),
                    outbound::size(outbound::MOST_ANSWER_BYTES),
                    outbound::quote(&answer.body)
                )))),
            };
        }
        (_, None) => {
            return Err(WebApiError::Failed(DeliveryError::transient(format!(
                "{what} answered HTTP {} without a JSON body: {}",
                answer.status.as_u16(),
                outbound::quote(&answer.body)
            ))));
        }
    };
    if value["ok"] == true {
        return Ok(Some(value));
    }
    let error = value["error"].as_str().unwrap_or("unknown_error");
    let reason = format!("{what} answered ok:false ({error})");
    Err(match error {
        "ratelimited" | "rate_limited" => WebApiError::RateLimited,
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            WebApiError::Failed(DeliveryError::transient(reason))
        }
        _ => WebApiError::Failed(DeliveryError::permanent(reason)),
    })
}

/// The value of a JSON object's first field when it is `"ok"` and a
/// boolean: read from the start of an answer too long to parse whole.
fn leading_ok(body: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(body.get(..body.len().min(64))?)
        .or_else(|error| std::str::from_utf8(&body[..error.valid_up_to()]))
        .ok()?;
    let rest = text.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest.strip_prefix("\"ok\"")?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    if rest.starts_with("true") {
        Some(true)
    } else if rest.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

/// One page of `conversations.list`: `(name, id)` pairs and the cursor of
/// the next page (`None` on the last).
pub fn channel_page(answer: &Value) -> (Vec<(String, String)>, Option<String>) {
    let channels = answer["channels"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?.to_owned(), c["id"].as_str()?.to_owned())))
        .collect();
    let cursor = answer["response_metadata"]["next_cursor"]
        .as_str()
        .filter(|cursor| !cursor.is_empty())
        .map(str::to_owned);
    (channels, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Deployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deployment.json"
        ));
        Deployment::from_json(serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn configured_channels_come_first_without_repeats() {
        let configured = vec!["#developers".to_owned(), "#ops".to_owned()];
        assert_eq!(
            deployment_channels(&configured, &sample()),
            ["#developers", "#ops", "#team-studadm"]
        );
    }

    #[test]
    fn channels_without_hash_are_not_posted_to() {
        let mut deployment = sample();
        deployment.slack_channels = vec!["invalid".into(), "#ok".into()];
        assert_eq!(deployment_channels(&[], &deployment), ["#ok"]);
    }

    #[test]
    fn message_failures_keep_their_wording() {
        let text = |error: CallError| message_error(error).to_string();
        assert_eq!(
            text(CallError::Refused {
                status: 503,
                excerpt: "oops".into()
            }),
            "Slack answered HTTP 503"
        );
        assert_eq!(
            text(CallError::Refused {
                status: 404,
                excerpt: "channel_not_found".into()
            }),
            "Slack answered HTTP 404: channel_not_found"
        );
        assert_eq!(
            text(CallError::Network("no answer within 1s".into())),
            "no answer within 1s"
        );
        assert_eq!(
            text(CallError::Redirect {
                status: 301,
                location: "https://elsewhere.test/x".into()
            }),
            "Slack answered HTTP 301 redirect to https://elsewhere.test/x; redirects are not followed"
        );
    }

    fn answer(body: &[u8], end: BodyEnd) -> Answer {
        Answer {
            status: awc::http::StatusCode::OK,
            headers: awc::http::header::HeaderMap::new(),
            body: actix_web::web::Bytes::copy_from_slice(body),
            end,
        }
    }

    #[test]
    fn an_answer_too_long_to_read_is_decided_by_its_leading_ok() {
        let read = |body: &[u8], end| match web_api_answer(&answer(body, end), "Slack x") {
            Ok(value) => Ok(value),
            Err(WebApiError::Failed(error)) => Err(error.to_string()),
            Err(WebApiError::RateLimited) => Err("rate limited".into()),
        };
        assert_eq!(
            read(br#"{"ok":true,"ts":"1"}"#, BodyEnd::Complete),
            Ok(Some(serde_json::json!({"ok": true, "ts": "1"})))
        );
        assert_eq!(
            read(b" { \"ok\" : true, \"message\": {\"te", BodyEnd::Cut),
            Ok(None)
        );
        assert_eq!(
            read(br#"{"ok":false,"error":"#, BodyEnd::Cut),
            Err("Slack x answered ok:false (in an answer over 4 MiB)".into())
        );
        assert_eq!(
            read(b"<html>\n<body>proxy", BodyEnd::Cut),
            Err(
                "Slack x answered HTTP 200 with over 4 MiB that is not a Web API answer: <html> <body>proxy"
                    .into()
            )
        );
        assert!(matches!(
            web_api_answer(&answer(b"<html>", BodyEnd::Complete), "Slack x"),
            Err(WebApiError::Failed(DeliveryError::Transient { .. }))
        ));
        assert_eq!(leading_ok(b"{\"channel\":\"C1\",\"ok\":true"), None);
    }

    #[test]
    fn channel_pages_and_the_completion_body() {
        let page = serde_json::json!({"ok": true, "channels": [{"id": "C1", "name": "dev"}],
            "response_metadata": {"next_cursor": "abc"}});
        assert_eq!(
            channel_page(&page),
            (vec![("dev".into(), "C1".into())], Some("abc".into()))
        );
        let last = serde_json::json!({"ok": true, "channels": [], "response_metadata": {"next_cursor": ""}});
        assert_eq!(channel_page(&last).1, None);
        assert_eq!(
            complete_upload_body("F1", "T", "C1", "c"),
            serde_json::json!({"files": [{"id": "F1", "title": "T"}], "channel_id": "C1", "initial_comment": "c"})
        );
    }
}

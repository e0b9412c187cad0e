//! Sends Slack messages and says what their answers mean.
//!
//! Transport: `chat.postMessage` on the Web API when `SLACK_TOKEN` is set
//! (`"ok": false` is a failure even with HTTP 200), else a JSON POST to
//! `SLACK_WEB_HOOK`. Each message waits for its channel's turn in the
//! subscriber's rate limiter; a 429 pauses that channel for `Retry-After`
//! seconds and the message is sent again after the pause, never dropped.

use std::time::Duration;

use awc::error::{ConnectError, SendRequestError};
use awc::http::StatusCode;
use serde::Deserialize;

use super::config::SlackConfig;
use super::message::SlackMessage;
use crate::config::{ConfigError, HttpUrl, Secret, Settings};
use crate::error::DeliveryError;
use crate::subscribers::{DeliveryContext, DeliveryOutcome, Progress};

/// 429s answered in a row for one message before the attempt gives up.
const MOST_RATE_LIMITED_TRIES: usize = 5;
/// Slack's answer when it gives no `Retry-After`.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// How much of an error body is worth quoting.
const QUOTED_BODY_CHARS: usize = 120;

enum Transport {
    Webhook(Secret<HttpUrl>),
    WebApi {
        post_message_url: String,
        token: Secret<String>,
    },
}

pub struct SlackSender {
    transport: Transport,
    channel_override: Option<String>,
    configured_channels: Vec<String>,
}

/// How one send ended.
enum SendResult {
    Sent,
    RateLimited(Duration),
    Failed(DeliveryError),
}

#[derive(Deserialize)]
struct WebApiAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

impl SlackSender {
    /// `Ok(None)` when neither `SLACK_TOKEN` nor `SLACK_WEB_HOOK` is set.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, ConfigError> {
        let config: SlackConfig = settings.env.load()?;
        let transport = match (config.token, config.web_hook) {
            (Some(token), _) => Transport::WebApi {
                post_message_url: format!(
                    "{}/chat.postMessage",
                    config.api_base_url.as_str().trim_end_matches('/')
                ),
                token,
            },
            (None, Some(hook)) => Transport::Webhook(hook),
            (None, None) => return Ok(None),
        };
        Ok(Some(SlackSender {
            transport,
            channel_override: config.channel_override,
            configured_channels: config.channels.0,
        }))
    }

    /// `SLACK_CHANNELS`, in order.
    pub fn configured_channels(&self) -> &[String] {
        &self.configured_channels
    }

    /// The channels a message really goes to: `SLACK_CHANNEL_OVERRIDE`,
    /// when set, replaces whatever the subscriber chose.
    pub fn channels(&self, chosen: Vec<String>) -> Vec<String> {
        match &self.channel_override {
            Some(channel) => vec![channel.clone()],
            None => chosen,
        }
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

    /// Sends one message when its channel's turn comes, waiting out short
    /// pauses; a long wait gives the delivery back (`RateLimited`).
    async fn post(
        &self,
        context: &DeliveryContext,
        message: &SlackMessage,
    ) -> Result<(), DeliveryError> {
        for _ in 0..MOST_RATE_LIMITED_TRIES {
            context.limiter.take_turn(&message.channel).await?;
            match self.send_once(context, message).await {
                SendResult::Sent => return Ok(()),
                SendResult::Failed(error) => return Err(error),
                SendResult::RateLimited(pause) => {
                    log::warn!(
                        "Slack rate-limited channel {}; pausing it for {}s",
                        message.channel,
                        pause.as_secs_f64()
                    );
                    context.limiter.pause(&message.channel, pause);
                }
            }
        }
        Err(DeliveryError::RateLimited {
            reason: format!("Slack kept rate-limiting {}", message.channel),
            wait: DEFAULT_PAUSE,
        })
    }

    async fn send_once(&self, context: &DeliveryContext, message: &SlackMessage) -> SendResult {
        let request = match &self.transport {
            Transport::Webhook(hook) => context.http.post(hook.expose().as_str()),
            Transport::WebApi {
                post_message_url,
                token,
            } => context
                .http
                .post(post_message_url.as_str())
                .insert_header(("Authorization", format!("Bearer {}", token.expose()))),
        };
        let mut response = match request.send_json(message).await {
            Ok(response) => response,
            Err(error) => {
                return SendResult::Failed(DeliveryError::transient(describe_send_error(
                    &error,
                    context.timeout,
                )));
            }
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return SendResult::RateLimited(retry_after(response.headers()));
        }
        let body = response.body().limit(64 * 1024).await.unwrap_or_default();
        if status.is_server_error() {
            return SendResult::Failed(DeliveryError::transient(format!(
                "Slack answered HTTP {}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return SendResult::Failed(DeliveryError::permanent(format!(
                "Slack answered HTTP {}: {}",
                status.as_u16(),
                quote(&body)
            )));
        }
        match &self.transport {
            Transport::Webhook(_) => SendResult::Sent,
            Transport::WebApi { .. } => web_api_result(&body, response.headers()),
        }
    }
}

/// `chat.postMessage` answers 200 with `{"ok": false, "error": …}` for most
/// failures; only a few of those are worth retrying.
fn web_api_result(body: &[u8], headers: &awc::http::header::HeaderMap) -> SendResult {
    let Ok(answer) = serde_json::from_slice::<WebApiAnswer>(body) else {
        return SendResult::Failed(DeliveryError::transient(format!(
            "Slack answered HTTP 200 without a JSON body: {}",
            quote(body)
        )));
    };
    if answer.ok {
        return SendResult::Sent;
    }
    let error = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
    match error.as_str() {
        "ratelimited" | "rate_limited" => SendResult::RateLimited(retry_after(headers)),
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            SendResult::Failed(DeliveryError::transient(format!(
                "Slack answered ok:false ({error})"
            )))
        }
        _ => SendResult::Failed(DeliveryError::permanent(format!(
            "Slack answered ok:false ({error})"
        ))),
    }
}

/// `Retry-After` in seconds (Slack sends whole seconds).
pub fn retry_after(headers: &awc::http::header::HeaderMap) -> Duration {
    headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_PAUSE)
}

/// Describes a failed request without its URL (a webhook URL is a secret).
pub fn describe_send_error(error: &SendRequestError, timeout: Duration) -> String {
    match error {
        SendRequestError::Timeout => format!("no answer within {}s", timeout.as_secs()),
        SendRequestError::Connect(ConnectError::Timeout) => "connect timed out".to_owned(),
        SendRequestError::Connect(ConnectError::Resolver(_)) => "DNS lookup failed".to_owned(),
        SendRequestError::Connect(ConnectError::Io(io)) => {
            format!("could not connect ({})", io.kind())
        }
        SendRequestError::Connect(_) => "could not connect".to_owned(),
        SendRequestError::Send(io) => format!("sending failed ({})", io.kind()),
        _ => "the request failed".to_owned(),
    }
}

fn quote(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(QUOTED_BODY_CHARS)
        .collect()
}

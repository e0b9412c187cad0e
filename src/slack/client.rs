//! The one Slack client: messages (an incoming webhook, or
//! `chat.postMessage` on the Web API when `SLACK_TOKEN` is set) in each
//! channel's pace, and Web API calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::message::SlackMessage;
use super::{
    CHANNEL_PACE, DEFAULT_PAUSE, MOST_RATE_LIMITED_TRIES, SLACK_GROUP, SLACK_RATE_LIMIT,
    SlackConfig,
};
use crate::clock::SharedClock;
use crate::config::{ConfigError, HttpUrl, Secret, Settings};
use crate::engine::outbound::{self, Answer, Body, BodyEnd, CallError};
use crate::engine::rate_limit::{LONGEST_INLINE_WAIT, Limiter, reserve_all, wait_in_place};
use crate::engine::{DeliveryContext, DeliveryOutcome, Progress};
use crate::error::DeliveryError;

enum Transport {
    Webhook(Secret<HttpUrl>),
    WebApi,
}

pub struct SlackClient {
    transport: Transport,
    api_base_url: String,
    token: Option<Secret<String>>,
    pub(super) channel_override: Option<String>,
    pub(super) configured_channels: Vec<String>,
    /// Each channel's pace, shared by every subscriber that posts to it.
    pub(super) pace: Arc<Limiter>,
    /// Channel name (without `#`) to id, and when the list was read.
    pub(super) channel_ids: Mutex<Option<(Instant, HashMap<String, String>)>>,
    pub(super) clock: SharedClock,
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
    pub(super) async fn take_turn(
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
            Err(CallError::RateLimited { wait, .. }) => return Sent::RateLimited(wait),
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
        CallError::RateLimited { wait, .. } => {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The one way an integration calls out: [`send`] makes the request on the
//! actor's client and classifies the answer, so every integration treats
//! the same answer the same way.
//!
//! | answer | meaning |
//! |---|---|
//! | network error, timeout | transient |
//! | 2xx | the answer (see below for its body) |
//! | 3xx | permanent: redirects are never followed (a POST turned into an empty GET must not count as delivered); the error names the `Location` |
//! | 429 | rate limited, with the wait from `Retry-After` (seconds or an HTTP date) or `X-RateLimit-Reset`, capped at `MAX_RETRY_AFTER_SECONDS` |
//! | 403 with `X-RateLimit-Remaining: 0` or `Retry-After` | rate limited, as a 429 (GitHub answers its primary and secondary limits so) |
//! | other 4xx | permanent |
//! | 5xx | transient |
//!
//! One call, connect, headers and body together, ends within the call
//! timeout (`SUBSCRIBER_TIMEOUT_SECONDS`), however slowly the destination
//! answers. What a 2xx's body counts for is the caller's choice
//! ([`Reading`]):
//!
//! - [`Reading::Status`]: the status decides. A 2xx is the answer whatever
//!   its body; at most [`ANSWER_PREFIX_BYTES`] of it is read, for the
//!   record, and a body that is longer, still arriving at the deadline or
//!   broken off is cut there ([`BodyEnd`] says which).
//! - [`Reading::Body`]: the body is the answer (JSON to parse). Up to
//!   [`MOST_ANSWER_BYTES`] is read; a longer one is cut (`BodyEnd::Cut`, the
//!   caller decides what that means); one that does not arrive whole within
//!   the deadline is a network failure (transient).
//!
//! Error texts never hold the request's URL (a webhook URL is a secret) and
//! quote at most a short, cleaned excerpt of the destination's answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::web::{Bytes, BytesMut};
use awc::error::{ConnectError, PayloadError, SendRequestError};
use awc::http::StatusCode;
use awc::http::header::HeaderMap;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::time::{Instant, timeout_at};

use crate::error::DeliveryError;

/// How much of a 2xx answer is read when its status decides
/// ([`Reading::Status`]): enough for the record.
pub const ANSWER_PREFIX_BYTES: usize = 64 * 1024;
/// How much of an answer is read at most when its body is the answer
/// ([`Reading::Body`]).
pub const MOST_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// How much of a refusal's body is read, to quote from.
const REFUSAL_PREFIX_BYTES: usize = 4 * 1024;
/// How much of an error answer is worth quoting.
const QUOTED_CHARS: usize = 120;

/// What is sent.
pub enum Body<'a> {
    Empty,
    Json(&'a (dyn erased::JsonBody + 'a)),
    Form(&'a [(&'a str, String)]),
    Bytes(Bytes, &'static str),
}

/// `&impl Serialize` without making [`Body`] generic.
pub mod erased {
    pub trait JsonBody {
        fn to_json(&self) -> serde_json::Result<Vec<u8>>;
    }

    impl<T: serde::Serialize + ?Sized> JsonBody for T {
        fn to_json(&self) -> serde_json::Result<Vec<u8>> {
            serde_json::to_vec(self)
        }
    }
}

impl<'a> Body<'a> {
    pub fn json<T: Serialize>(value: &'a T) -> Self {
        Body::Json(value)
    }
}

/// What a 2xx call's body counts for (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The status decides; a prefix of the body is kept for the record.
    Status,
    /// The body is the answer: read whole (up to [`MOST_ANSWER_BYTES`]).
    Body,
}

impl Reading {
    fn most_bytes(self) -> usize {
        match self {
            Reading::Status => ANSWER_PREFIX_BYTES,
            Reading::Body => MOST_ANSWER_BYTES,
        }
    }
}

/// How much of an answer's body was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// All of it.
    Complete,
    /// It was longer than the call reads; the rest was not read.
    Cut,
    /// It stopped short: the call's time ran out, or the connection broke
    /// (the text says which). Only with [`Reading::Status`].
    Unfinished(String),
}

/// A 2xx answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as far as it was read (see [`Answer::end`]).
    pub body: Bytes,
    pub end: BodyEnd,
}

impl Answer {
    /// The body as JSON, when it was read whole and is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        if self.end != BodyEnd::Complete {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// For the record: how the body ended when it was not read whole
    /// (`None` when it was).
    pub fn body_note(&self) -> Option<String> {
        match &self.end {
            BodyEnd::Complete => None,
            BodyEnd::Cut => Some(format!(
                "the answer's first {} were read",
                size(self.body.len())
            )),
            BodyEnd::Unfinished(why) => Some(format!(
                "the answer's body {why} after {}",
                size(self.body.len())
            )),
        }
    }
}

/// A byte count as a person reads it: `512 bytes`, `64 KiB`, `4 MiB`.
pub fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A failed call, classified. Each integration words it its own way (see
/// [`CallError::describe`] for the usual wording); whether it is worth
/// retrying is decided here, once.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// Network error or timeout (described without the URL): transient.
    Network(String),
    /// 429 (or a 403 that says it is a rate limit): the destination asked
    /// to come back after `wait`.
    RateLimited { status: u16, wait: Duration },
    /// 3xx: permanent; redirects are never followed.
    Redirect { status: u16, location: String },
    /// Any other refusal: 5xx transient, 4xx permanent. `excerpt` is a
    /// short, cleaned quote of the answer.
    Refused { status: u16, excerpt: String },
}

impl CallError {
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Network(_) => None,
            CallError::RateLimited { status, .. } => Some(*status),
            CallError::Redirect { status, .. } | CallError::Refused { status, .. } => Some(*status),
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Network(_) | CallError::RateLimited { .. } => true,
            CallError::Redirect { .. } => false,
            CallError::Refused { status, .. } => *status >= 500,
        }
    }

    /// The usual wording: `<what>: HTTP 503: <excerpt>`, `<what>: could
    /// not connect (…)`, `<what>: rate limited (HTTP 429); retry in 30s`.
    pub fn describe(&self, what: &str) -> String {
        match self {
            CallError::Network(problem) => format!("{what}: {problem}"),
            CallError::RateLimited { status, wait } => format!(
                "{what}: rate limited (HTTP {status}); retry in {}s",
                wait.as_secs()
            ),
            CallError::Redirect { status, location } => {
                format!("{what}: HTTP {status} redirect to {location}; redirects are not followed")
            }
            CallError::Refused { status, excerpt } if excerpt.is_empty() => {
                format!("{what}: HTTP {status}")
            }
            CallError::Refused { status, excerpt } => format!("{what}: HTTP {status}: {excerpt}"),
        }
    }

    /// The delivery error this call's failure makes, worded as `text`: a
    /// 429 is retried at the time the destination asked for.
    pub fn into_delivery_error(self, text: String) -> DeliveryError {
        match self {
            CallError::RateLimited { wait, .. } => DeliveryError::Transient {
                reason: text,
                retry_after: Some(wait),
            },
            error if error.is_transient() => DeliveryError::transient(text),
            _ => DeliveryError::permanent(text),
        }
    }

    /// The delivery error with the usual wording.
    pub fn delivery_error(self, what: &str) -> DeliveryError {
        let text = self.describe(what);
        self.into_delivery_error(text)
    }
}

/// Rules of one call: the wait when a 429 says none, the longest wait a
/// 429 may ask for (`MAX_RETRY_AFTER_SECONDS`), and what a 2xx's body
/// counts for.
#[derive(Debug, Clone, Copy)]
pub struct CallRules {
    pub default_wait: Duration,
    pub max_wait: Duration,
    pub reading: Reading,
}

/// Sends `request` with `body` and classifies the answer (see the module
/// doc). The whole call, connect, headers and body, ends within `timeout`.
/// The actor's client never follows redirects.
pub async fn send(
    request: awc::ClientRequest,
    body: Body<'_>,
    timeout: Duration,
    rules: &CallRules,
) -> Result<Answer, CallError> {
    let deadline = Instant::now() + timeout;
    let late = || CallError::Network(format!("no answer within {}s", timeout.as_secs()));
    // Frozen, so that it can be sent a second time.
    let (request, bytes) = match body {
        Body::Empty => (request, None),
        Body::Json(value) => match value.to_json() {
            Ok(bytes) => (
                request.content_type("application/json"),
                Some(Bytes::from(bytes)),
            ),
            Err(error) => {
                return Err(CallError::Network(format!(
                    "the body could not be written as JSON ({error})"
                )));
            }
        },
        Body::Form(form) => match serde_urlencoded::to_string(form) {
            Ok(text) => (
                request.content_type("application/x-www-form-urlencoded"),
                Some(Bytes::from(text)),
            ),
            Err(error) => {
                return Err(CallError::Network(format!(
                    "the form could not be written ({error})"
                )));
            }
        },
        Body::Bytes(bytes, content_type) => (request.content_type(content_type), Some(bytes)),
    };
    let request = request
        .freeze()
        .map_err(|_| CallError::Network("the request could not be built".to_owned()))?;
    let send_once = || match &bytes {
        Some(bytes) => request.send_body(bytes.clone()),
        None => request.send(),
    };
    let sending = async {
        match send_once().await {
            // The connection ended before any answer: a kept-alive one the
            // receiver had closed (it cannot have answered this request on
            // it). Sent again at once, on a new connection, rather than
            // after a retry's wait; once, so a receiver that closes every
            // connection still fails the attempt.
            Err(SendRequestError::Connect(ConnectError::Disconnected)) => {
                log::debug!("the connection was closed before an answer; sending again");
                send_once().await
            }
            sent => sent,
        }
    };
    let sent = match timeout_at(deadline, sending).await {
        Ok(sent) => sent,
        Err(_) => return Err(late()),
    };
    let mut response = sent.map_err(|error| CallError::Network(describe(&error, timeout)))?;
    let status = response.status();
    let headers = response.headers().clone();
    if status == StatusCode::TOO_MANY_REQUESTS || is_rate_limit_refusal(status, &headers) {
        // The headers' wait, else the body's (read only then, a bounded
        // prefix within the call's time), else the default.
        let wait = match header_wait(&headers, SystemTime::now()) {
            Some(wait) => wait,
            None => {
                let (body, _) =
                    read_prefix(&mut response, REFUSAL_PREFIX_BYTES, deadline, timeout).await;
                body_wait(&body).unwrap_or(rules.default_wait)
            }
        };
        return Err(CallError::RateLimited {
            status: status.as_u16(),
            wait: wait.min(rules.max_wait),
        });
    }
    let most = if status.is_success() {
        rules.reading.most_bytes()
    } else {
        REFUSAL_PREFIX_BYTES
    };
    let (body, end) = read_prefix(&mut response, most, deadline, timeout).await;
    if let (true, Reading::Body, BodyEnd::Unfinished(why)) =
        (status.is_success(), rules.reading, &end)
    {
        return Err(CallError::Network(format!(
            "HTTP {}, but the answer's body {why}",
            status.as_u16()
        )));
    }
    classify(status, headers, body, end)
}

/// Reads at most `most` bytes of the body, until `deadline`: what arrived,
/// and how the body ended. The rest is never read (the connection is
/// dropped with it).
async fn read_prefix<S>(
    response: &mut awc::ClientResponse<S>,
    most: usize,
    deadline: Instant,
    timeout: Duration,
) -> (Bytes, BodyEnd)
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let mut body = BytesMut::new();
    let end = loop {
        match timeout_at(deadline, response.next()).await {
            Err(_) => {
                break BodyEnd::Unfinished(format!(
                    "was still arriving at the {}s timeout",
                    timeout.as_secs()
                ));
            }
            Ok(None) => break BodyEnd::Complete,
            Ok(Some(Err(error))) => {
                break BodyEnd::Unfinished(format!("broke off ({})", payload_problem(&error)));
            }
            Ok(Some(Ok(chunk))) => {
                let room = most - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    break BodyEnd::Cut;
                }
                body.extend_from_slice(&chunk);
            }
        }
    };
    (body.freeze(), end)
}

/// A broken body, described without the destination's words.
fn payload_problem(error: &PayloadError) -> &'static str {
    match error {
        PayloadError::Incomplete(_) => "the connection closed early",
        PayloadError::EncodingCorrupted => "its encoding is corrupt",
        PayloadError::Overflow => "too large",
        PayloadError::Io(_) => "a read failed",
        _ => "it could not be read",
    }
}

/// A 403 that is a rate limit, not a refusal: GitHub's answer past its
/// primary limit (`X-RateLimit-Remaining: 0`) or a secondary one
/// (`Retry-After`), per its REST API documentation ("Rate limits for the
/// REST API").
fn is_rate_limit_refusal(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::FORBIDDEN
        && (headers.contains_key("retry-after")
            || headers
                .get("x-ratelimit-remaining")
                .is_some_and(|remaining| remaining.as_bytes().trim_ascii() == b"0"))
}

/// What an answer's status means (the 429 case is handled before).
pub fn classify(
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    end: BodyEnd,
) -> Result<Answer, CallError> {
    let code = status.as_u16();
    if status.is_success() {
        return Ok(Answer {
            status,
            headers,
            body,
            end,
        });
    }
    if status.is_redirection() {
        let location = headers
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(shown_location)
            .unwrap_or_else(|| "nowhere".to_owned());
        return Err(CallError::Redirect {
            status: code,
            location,
        });
    }
    Err(CallError::Refused {
        status: code,
        excerpt: quote(&body),
    })
}

/// How long a 429 asked us to wait: `Retry-After` in seconds or as an HTTP
/// date, else `X-RateLimit-Reset` (a Unix time, or seconds when small),
/// else `default`.
pub fn rate_limit_wait(headers: &HeaderMap, now: SystemTime, default: Duration) -> Duration {
    header_wait(headers, now).unwrap_or(default)
}

/// The wait a 429's JSON body gives when its headers give none: Discord's
/// `retry_after` (seconds, fractional), Telegram's
/// `parameters.retry_after`.
pub fn body_wait(body: &[u8]) -> Option<Duration> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let seconds = answer
        .get("retry_after")
        .or_else(|| answer.get("parameters")?.get("retry_after"))?
        .as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0)?;
    Some(Duration::from_secs_f64(seconds.min(1e9)))
}

/// [`rate_limit_wait`] when the headers say.
fn header_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let seconds = |text: &str| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    if let Some(value) = text("retry-after") {
        if let Some(seconds) = seconds(value) {
            return Some(Duration::from_secs_f64(seconds.min(1e9)));
        }
        if let Ok(at) = httpdate::parse_http_date(value.trim()) {
            return Some(at.duration_since(now).unwrap_or_default());
        }
    }
    let reset = text("x-ratelimit-reset").and_then(seconds)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Some(if reset > 1_000_000_000.0 {
        Duration::from_secs_f64((reset - now).clamp(0.0, 1e9))
    } else {
        Duration::from_secs_f64(reset)
    })
}

/// Describes a failed request without its URL.
pub fn describe(error: &SendRequestError, timeout: Duration) -> String {
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

/// A short excerpt of an answer for an error text: control characters
/// (NUL included) shown escaped, whitespace runs collapsed.
pub fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= QUOTED_CHARS {
            break;
        }
    }
    out.chars()
        .take(QUOTED_CHARS)
        .flat_map(|c| {
            if c.is_control() {
                format!("\\u{:04x}", c as u32).chars().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A redirect target, as an error may show it: scheme, host and path, no
/// credentials or query (they may carry tokens).
fn shown_location(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(url) => format!(
            "{}://{}{}{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default(),
            url.path()
        ),
        Err(_) => location
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .chars()
            .take(QUOTED_CHARS)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use awc::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let wait = |pairs: &[(&'static str, &str)]| {
            rate_limit_wait(&headers(pairs), now, Duration::from_secs(1))
        };
        assert_eq!(wait(&[("retry-after", "7")]), Duration::from_secs(7));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(wait(&[("retry-after", &date)]), Duration::from_secs(90));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(wait(&[("retry-after", &past)]), Duration::ZERO);
        assert_eq!(
            wait(&[("x-ratelimit-reset", "1800000030")]),
            Duration::from_secs(30)
        );
        assert_eq!(wait(&[("retry-after", "soon")]), Duration::from_secs(1));
        assert_eq!(wait(&[]), Duration::from_secs(1));
    }

    #[test]
    fn statuses_are_classified_once_for_every_integration() {
        let answer = |code: u16, pairs: &[(&'static str, &str)], body: &'static str| {
            classify(
                StatusCode::from_u16(code).unwrap(),
                headers(pairs),
                Bytes::from_static(body.as_bytes()),
                BodyEnd::Complete,
            )
        };
        assert!(answer(204, &[], "").is_ok());
        let redirect = answer(
            301,
            &[("location", "https://u:p@other.test/new?token=x")],
            "",
        )
        .unwrap_err();
        assert!(!redirect.is_transient());
        assert_eq!(
            redirect.describe("Test"),
            "Test: HTTP 301 redirect to https://other.test/new; redirects are not followed"
        );
        let down = answer(503, &[], "down\nfor now").unwrap_err();
        assert!(down.is_transient());
        assert_eq!(down.describe("Test"), "Test: HTTP 503: down for now");
        let refused = answer(400, &[], "bad\u{0}input").unwrap_err();
        assert!(!refused.is_transient());
        assert_eq!(refused.describe("Test"), "Test: HTTP 400: bad\\u0000input");
        assert_eq!(
            CallError::RateLimited {
                status: 429,
                wait: Duration::from_secs(2)
            }
            .delivery_error("Test"),
            DeliveryError::Transient {
                reason: "Test: rate limited (HTTP 429); retry in 2s".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
        );
    }

    #[test]
    fn a_429_body_gives_the_wait_its_headers_do_not() {
        assert_eq!(
            body_wait(br#"{"message": "You are being rate limited.", "retry_after": 0.25, "global": false}"#),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            body_wait(br#"{"ok": false, "error_code": 429, "parameters": {"retry_after": 3}}"#),
            Some(Duration::from_secs(3))
        );
        assert_eq!(body_wait(b"slow down"), None);
        assert_eq!(body_wait(br#"{"retry_after": -1}"#), None);
    }
}

//! The error policy.
//!
//! - Leaf code returns specific errors (`FieldError` from parsing, transport
//!   errors from HTTP clients) and never logs them itself.
//! - Subscribers turn what went wrong into a [`DeliveryError`] that decides
//!   what happens next: *transient* is retried, *permanent* is given up on
//!   (and will be dead-lettered once the journal exists), *fatal* stops the
//!   subscriber's actor so its supervisor restarts it. The subscriber actor
//!   logs it once, naming the subscriber and the event.
//! - HTTP handlers answer with an [`ApiError`]: one JSON body shape,
//!   `{"error": kind, "message": text, "field": name?}`, with the status
//!   of each kind in one table ([`ErrorKind::status`]). 5xx bodies are
//!   opaque: the error carries its cause ([`Cause`]) to the one place that
//!   logs it, where the response is made.
//!
//! No error message ever carries a secret: errors describe the call
//! (subscriber, host, status), never the URL of a webhook or a token.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::event::FieldError;

/// What made a request fail with a 5xx: kept for the log line, never
/// answered.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Authorization: Bearer <token> is required")]
    Unauthorized,
    #[error("not found")]
    NotFound,
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    InvalidEvent(FieldError),
    #[error("{0}")]
    InvalidQuery(FieldError),
    #[error("the event could not be accepted right now; try again")]
    Unavailable(#[source] Cause),
    #[error("storage is unavailable; try again")]
    StorageUnavailable(#[source] Cause),
    /// A heavy read past `READ_CONCURRENCY` (or the metrics' own limit).
    #[error("too many reads at once (at most {limit}); try again")]
    ReadsBusy { limit: usize },
    /// More heavy reads this second than `HEAVY_READS_PER_SECOND`.
    #[error(
        "more than {per_second} reads a second (HEAVY_READS_PER_SECOND); try again in a second"
    )]
    ReadsOverBudget { per_second: usize },
    /// Heavy reads wait while the SQLite write-ahead log is truncated.
    #[error("reads are paused for a moment while the database's log is truncated; try again")]
    ReadsPaused,
    /// A heavy read stopped at `READ_TIMEOUT_MS`.
    #[error(
        "the read took longer than its limit of {ms} ms (READ_TIMEOUT_MS) and was stopped; \
         ask for less (a shorter period, a team, application or cluster) or try again later"
    )]
    ReadTimedOut { ms: u64 },
    #[error("internal error")]
    Internal(#[source] Cause),
    #[error("{0}")]
    UnknownId(String),
    #[error("the admin API is off: set ADMIN_TOKEN and send it as Authorization: Bearer <token>")]
    AdminDisabled,
    #[error("the request body did not arrive within {seconds}s")]
    BodyTimeout { seconds: u64 },
    /// A known path asked with a method it does not take (the path and
    /// its methods come from the route table).
    #[error("{path} answers {allow}")]
    MethodNotAllowed { path: String, allow: String },
    /// The operator file does not validate; the configuration in force
    /// stays.
    #[error("the configuration file was refused, the one in force stays: {message}")]
    InvalidConfig {
        message: String,
        line: Option<usize>,
    },
    /// The request does not fit the service's state (e.g. a reload
    /// without a configuration file).
    #[error("{0}")]
    Conflict(String),
    /// A well-formed request past one of the service's bounds (e.g. too
    /// many patterns in a silence); `field` names the field when one is at
    /// fault.
    #[error("{0}")]
    LimitExceeded(FieldError),
}

/// The one body every error is answered with.
// The OpenAPI document's `ErrorBody` schema is derived from this type.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorKind,
    /// What went wrong, for a person to read.
    pub message: String,
    /// The request field at fault (`invalid_event`, `invalid_query`,
    /// `limit_exceeded`): a
    /// body field's camelCase name, a query parameter or a header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<&'a str>,
    /// The line of the configuration file at fault (`invalid_config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub line: Option<usize>,
}

/// What kind of error an [`ErrorBody`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PayloadTooLarge,
    InvalidEvent,
    InvalidQuery,
    InvalidConfig,
    Conflict,
    LimitExceeded,
    Unavailable,
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of the enum.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::BadRequest,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::RequestTimeout,
        ErrorKind::PayloadTooLarge,
        ErrorKind::InvalidEvent,
        ErrorKind::InvalidQuery,
        ErrorKind::InvalidConfig,
        ErrorKind::Conflict,
        ErrorKind::LimitExceeded,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    /// The one table from kind to status.
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest | ErrorKind::InvalidQuery => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::InvalidEvent | ErrorKind::InvalidConfig | ErrorKind::LimitExceeded => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// A 503: the service cannot take this now (a restarting actor, a
    /// full queue).
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        ApiError::Unavailable(cause.into())
    }

    /// A 503: the store did not answer.
    pub fn storage(cause: impl Into<Cause>) -> Self {
        ApiError::StorageUnavailable(cause.into())
    }

    /// A 500: something that should not happen did.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        ApiError::Internal(cause.into())
    }

    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::BadRequest(_) => ErrorKind::BadRequest,
            ApiError::Unauthorized => ErrorKind::Unauthorized,
            ApiError::NotFound | ApiError::UnknownId(_) => ErrorKind::NotFound,
            ApiError::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            ApiError::InvalidEvent(_) => ErrorKind::InvalidEvent,
            ApiError::InvalidQuery(_) => ErrorKind::InvalidQuery,
            ApiError::Unavailable(_)
            | ApiError::StorageUnavailable(_)
            | ApiError::ReadsBusy { .. }
            | ApiError::ReadsOverBudget { .. }
            | ApiError::ReadsPaused
            | ApiError::ReadTimedOut { .. } => ErrorKind::Unavailable,
            ApiError::Internal(_) => ErrorKind::Internal,
            ApiError::AdminDisabled => ErrorKind::Forbidden,
            ApiError::BodyTimeout { .. } => ErrorKind::RequestTimeout,
            ApiError::MethodNotAllowed { .. } => ErrorKind::MethodNotAllowed,
            ApiError::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            ApiError::Conflict(_) => ErrorKind::Conflict,
            ApiError::LimitExceeded(_) => ErrorKind::LimitExceeded,
        }
    }

    /// The one log line of an error that has a cause (only 5xx do): an
    /// operator may need to act on storage and internal errors; a
    /// service briefly unavailable is a warning.
    fn log_cause(&self) {
        let Some(cause) = std::error::Error::source(self) else {
            return;
        };
        let mut chain = cause.to_string();
        let mut next = cause.source();
        while let Some(error) = next {
            chain.push_str(": ");
            chain.push_str(&error.to_string());
            next = error.source();
        }
        let level = match self {
            ApiError::Unavailable(_) => log::Level::Warn,
            _ => log::Level::Error,
        };
        log::log!(
            level,
            "answered {}: {self}: {chain}",
            self.status_code().as_u16()
        );
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().status()
    }

    fn error_response(&self) -> HttpResponse {
        let field = match self {
            ApiError::InvalidEvent(error) | ApiError::InvalidQuery(error) => {
                Some(error.field.as_str())
            }
            ApiError::LimitExceeded(error) if !error.field.is_empty() => Some(error.field.as_str()),
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        // A read stopped at its time limit would run as long again: no
        // invitation to retry in a second.
        if self.kind() == ErrorKind::Unavailable && !matches!(self, ApiError::ReadTimedOut { .. }) {
            response.insert_header(("Retry-After", "1"));
        }
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header(("Allow", allow.as_str()));
        }
        // A client that trickles its body is not kept.
        if let ApiError::BodyTimeout { .. } = self {
            response.force_close();
        }
        let line = match self {
            ApiError::InvalidConfig { line, .. } => *line,
            _ => None,
        };
        self.log_cause();
        response.json(ErrorBody {
            error: self.kind(),
            message: self.to_string(),
            field,
            line,
        })
    }
}

/// What went wrong delivering one event to one integration, and so what
/// happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again later (network error, timeout, 5xx, 429).
    #[error("{reason}")]
    Transient {
        reason: String,
        /// The destination said when to come back (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Trying again will not help (4xx, Slack `ok:false` such as
    /// `channel_not_found`).
    #[error("{0}")]
    Permanent(String),
    /// The subscriber itself is broken; its actor is restarted.
    #[error("{0}")]
    Fatal(String),
    /// Not this delivery's turn yet (rate limit, a destination's pause):
    /// tried again after `wait`, no attempt charged.
    #[error("{reason}")]
    RateLimited { reason: String, wait: Duration },
}

impl DeliveryError {
    pub fn transient(reason: impl Into<String>) -> Self {
        DeliveryError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        DeliveryError::Permanent(reason.into())
    }

    /// The same error with `prefix` before its text (which channel, key or
    /// URL it was about).
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            DeliveryError::Transient {
                reason,
                retry_after,
            } => DeliveryError::Transient {
                reason: format!("{prefix}{reason}"),
                retry_after,
            },
            DeliveryError::Permanent(reason) => {
                DeliveryError::Permanent(format!("{prefix}{reason}"))
            }
            DeliveryError::Fatal(reason) => DeliveryError::Fatal(format!("{prefix}{reason}")),
            DeliveryError::RateLimited { reason, wait } => DeliveryError::RateLimited {
                reason: format!("{prefix}{reason}"),
                wait,
            },
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            DeliveryError::Transient { .. } => "transient",
            DeliveryError::Permanent(_) => "permanent",
            DeliveryError::Fatal(_) => "fatal",
            DeliveryError::RateLimited { .. } => "rate_limited",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(error: ApiError) -> (u16, serde_json::Value) {
        let response = error.error_response();
        let status = response.status().as_u16();
        let bytes = to_bytes(response.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[actix_web::test]
    async fn invalid_event_names_the_field() {
        let error = ApiError::InvalidEvent(FieldError {
            field: "cluster".into(),
            problem: "is required".into(),
        });
        let (status, body) = body_of(error).await;
        assert_eq!(status, 422);
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_event", "message": "cluster: is required", "field": "cluster"})
        );
    }

    /// The kinds and their statuses, as the API documents them.
    #[test]
    fn every_kind_has_one_status() {
        let table: Vec<(String, u16)> = ErrorKind::ALL
            .iter()
            .map(|kind| {
                let name = serde_json::to_value(kind).unwrap();
                (name.as_str().unwrap().to_owned(), kind.status().as_u16())
            })
            .collect();
        let expected = [
            ("bad_request", 400),
            ("unauthorized", 401),
            ("forbidden", 403),
            ("not_found", 404),
            ("method_not_allowed", 405),
            ("request_timeout", 408),
            ("payload_too_large", 413),
            ("invalid_event", 422),
            ("invalid_query", 400),
            ("invalid_config", 422),
            ("conflict", 409),
            ("limit_exceeded", 422),
            ("unavailable", 503),
            ("internal", 500),
        ];
        assert_eq!(
            table,
            expected.map(|(name, status)| (name.to_owned(), status))
        );
        // Exhaustive: a new kind stops the build here, to be listed in ALL
        // and in the table above.
        for kind in ErrorKind::ALL {
            match kind {
                ErrorKind::BadRequest
                | ErrorKind::Unauthorized
                | ErrorKind::Forbidden
                | ErrorKind::NotFound
                | ErrorKind::MethodNotAllowed
                | ErrorKind::RequestTimeout
                | ErrorKind::PayloadTooLarge
                | ErrorKind::InvalidEvent
                | ErrorKind::InvalidQuery
                | ErrorKind::InvalidConfig
                | ErrorKind::Conflict
                | ErrorKind::LimitExceeded
                | ErrorKind::Unavailable
                | ErrorKind::Internal => {}
            }
        }
    }

    #[actix_web::test]
    async fn a_5xx_body_is_opaque_whatever_its_cause() {
        let cause = std::io::Error::other("disk /var/lib/alvares is full");
        let (status, body) = body_of(ApiError::storage(cause)).await;
        assert_eq!(status, 503);
        assert_eq!(
            body,
            serde_json::json!({"error": "unavailable", "message": "storage is unavailable; try again"})
        );
        let (status, body) = body_of(ApiError::internal("a broken invariant")).await;
        assert_eq!(status, 500);
        assert_eq!(
            body,
            serde_json::json!({"error": "internal", "message": "internal error"})
        );
    }

    /// The lines logged while the tests run that name `marker`.
    fn logged(marker: &str) -> Vec<String> {
        use std::sync::{Mutex, OnceLock};
        struct Capture(Mutex<Vec<String>>);
        impl log::Log for Capture {
            fn enabled(&self, _: &log::Metadata<'_>) -> bool {
                true
            }
            fn log(&self, record: &log::Record<'_>) {
                let line = format!("{} {}", record.level(), record.args());
                self.0.lock().unwrap().push(line);
            }
            fn flush(&self) {}
        }
        static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
        let capture = CAPTURE.get_or_init(|| {
            let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
            log::set_logger(capture).expect("no other logger in the unit tests");
            log::set_max_level(log::LevelFilter::Info);
            capture
        });
        let lines = capture.0.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains(marker))
            .cloned()
            .collect()
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the journal writer failed")]
    struct WriterFailed(#[source] std::io::Error);

    #[actix_web::test]
    async fn the_cause_is_logged_once_with_its_chain_where_the_error_is_answered() {
        logged("");
        let cause = WriterFailed(std::io::Error::other("disk full (marker-3141)"));
        let (status, _) = body_of(ApiError::storage(cause)).await;
        assert_eq!(status, 503);
        assert_eq!(
            logged("marker-3141"),
            [
                "ERROR answered 503: storage is unavailable; try again: the journal writer \
              failed: disk full (marker-3141)"
            ]
        );
        let (status, _) = body_of(ApiError::unavailable(
            "the registry is restarting (marker-2718)",
        ))
        .await;
        assert_eq!(status, 503);
        assert_eq!(
            logged("marker-2718"),
            [
                "WARN answered 503: the event could not be accepted right now; try again: the \
              registry is restarting (marker-2718)"
            ]
        );
        // A client's error is the client's: not logged here.
        body_of(ApiError::BadRequest("no JSON (marker-1618)".into())).await;
        assert_eq!(logged("marker-1618"), Vec::<String>::new());
    }

    #[actix_web::test]
    async fn other_errors_have_no_field() {
        let (status, body) = body_of(ApiError::PayloadTooLarge { limit: 10 }).await;
        assert_eq!(status, 413);
        assert_eq!(
            body,
            serde_json::json!({"error": "payload_too_large", "message": "the body is larger than the limit of 10 bytes"})
        );
    }
}

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
//!   mapping in one place below. 5xx bodies are opaque; details go to the log.
//!
//! No error message ever carries a secret: errors describe the call
//! (subscriber, host, status), never the URL of a webhook or a token.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::event::FieldError;

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
    Unavailable,
    #[error("storage is unavailable; try again")]
    StorageUnavailable,
    /// A heavy read past `READ_CONCURRENCY` (or the metrics' own limit).
    #[error("too many reads at once (at most {limit}); try again")]
    ReadsBusy { limit: usize },
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
    Internal,
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

impl ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::BadRequest(_) => ErrorKind::BadRequest,
            ApiError::Unauthorized => ErrorKind::Unauthorized,
            ApiError::NotFound => ErrorKind::NotFound,
            ApiError::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            ApiError::InvalidEvent(_) => ErrorKind::InvalidEvent,
            ApiError::InvalidQuery(_) => ErrorKind::InvalidQuery,
            ApiError::Unavailable
            | ApiError::StorageUnavailable
            | ApiError::ReadsBusy { .. }
            | ApiError::ReadsPaused
            | ApiError::ReadTimedOut { .. } => ErrorKind::Unavailable,
            ApiError::Internal => ErrorKind::Internal,
            ApiError::UnknownId(_) => ErrorKind::NotFound,
            ApiError::AdminDisabled => ErrorKind::Forbidden,
            ApiError::BodyTimeout { .. } => ErrorKind::RequestTimeout,
            ApiError::MethodNotAllowed { .. } => ErrorKind::MethodNotAllowed,
            ApiError::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            ApiError::Conflict(_) => ErrorKind::Conflict,
            ApiError::LimitExceeded(_) => ErrorKind::LimitExceeded,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidEvent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable
            | ApiError::StorageUnavailable
            | ApiError::ReadsBusy { .. }
            | ApiError::ReadsPaused
            | ApiError::ReadTimedOut { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::UnknownId(_) => StatusCode::NOT_FOUND,
            ApiError::AdminDisabled => StatusCode::FORBIDDEN,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidConfig { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::LimitExceeded(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
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
        if let ApiError::Unavailable
        | ApiError::StorageUnavailable
        | ApiError::ReadsBusy { .. }
        | ApiError::ReadsPaused = self
        {
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

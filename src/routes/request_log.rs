//! Every request gets an id — the caller's `X-Request-Id` when it sends a
//! usable one, a new UUID v7 otherwise — that comes back in the answer's
//! `X-Request-Id` and is on every log line logged while the request is
//! handled, and one access-log line (method, path without its query,
//! status, duration), whose parts are also the line's fields in JSON logs. Bodies, queries and headers are never logged.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

use crate::logging::LogContext;

const REQUEST_ID: &str = "x-request-id";
/// Longest request id taken from a caller.
const MOST_ID_CHARS: usize = 200;

pub async fn request_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|id| usable(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = request.method().clone();
    let path = request.path().to_owned();
    let started = Instant::now();
    let context = LogContext {
        request_id: Some(id.clone()),
        ..LogContext::default()
    };
    context
        .scope(async move {
            let mut response = next.call(request).await?;
            let status = response.status().as_u16();
            if let Ok(value) = HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID), value);
            }
            // Rounded to a tenth of a millisecond, as in the message.
            let duration_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
            log::info!(
                target: "alvares::access",
                method = method.as_str(), path = path.as_str(), status, duration_ms;
                "{method} {path} {status} {duration_ms:.1}ms"
            );
            Ok(response)
        })
        .await
}

/// A caller's id is kept when it is short visible ASCII (it goes into log
/// lines and a header as it is).
fn usable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MOST_ID_CHARS && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_visible_ids_are_kept() {
        assert!(usable("abc-123"));
        assert!(!usable(""));
        assert!(!usable("has space"));
        assert!(!usable(&"x".repeat(201)));
        assert!(!usable("naïve"));
    }
}

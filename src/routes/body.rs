//! Request bodies read under a limit: a body past it is refused as soon as
//! it is known to be (by its `Content-Length`, or while it arrives) with
//! the one JSON error body (`413 payload_too_large`), never buffered
//! whole. Intake and the admin API read theirs through here.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

use crate::error::ApiError;

/// The largest body an admin route takes: a silence at its bounds (20
/// fields, 100 patterns of at most 256 characters) is about 30 KiB.
pub const MAX_ADMIN_BODY_BYTES: usize = 64 * 1024;

/// Reads the body, refusing it as soon as it passes the limit.
pub async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest("the body could not be read".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

//! `PUT|POST /api/v1/{deployment,error,recommendation}`: the pipeline's
//! events come in here. Raw bytes become a validated [`Event`] at this
//! edge; the intake actor's answer becomes `202 Accepted`.

use actix::Addr;
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::domain::event::{Event, EventKind};
use crate::error::ApiError;
use crate::pipeline::intake::IntakeActor;
use crate::pipeline::messages::Accept;

/// What the intake route needs from the application.
pub struct IntakeRoute {
    pub intake: Addr<IntakeActor>,
    pub token: Option<Secret<String>>,
    pub max_body_bytes: usize,
}

pub async fn accept(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    route: web::Data<IntakeRoute>,
) -> Result<HttpResponse, ApiError> {
    let kind = match path.as_str() {
        "deployment" => EventKind::Deployment,
        "error" => EventKind::Error,
        "recommendation" => EventKind::Recommendation,
        _ => return Err(ApiError::NotFound),
    };
    authorize(&request, route.token.as_ref())?;
    require_json_content_type(&request)?;
    let body = read_body(&request, payload, route.max_body_bytes).await?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid JSON: {error}")))?;
    let event = Event::parse(kind, value).map_err(ApiError::InvalidEvent)?;
    let id = route
        .intake
        .send(Accept(event))
        .await
        .map_err(|_| ApiError::Unavailable)?
        .map_err(|_| ApiError::Unavailable)?;
    Ok(HttpResponse::Accepted().json(json!({ "id": id, "kind": kind.as_str() })))
}

/// With `INGEST_TOKEN` set, a matching bearer token is required. The
/// comparison takes the same time whatever the sent token is.
fn authorize(request: &HttpRequest, token: Option<&Secret<String>>) -> Result<(), ApiError> {
    let Some(token) = token else { return Ok(()) };
    let sent = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        log::warn!(
            "intake refused a request from {} without a valid bearer token",
            request
                .peer_addr()
                .map(|addr| addr.ip().to_string())
                .unwrap_or_else(|| "an unknown peer".into())
        );
        Err(ApiError::Unauthorized)
    }
}

fn require_json_content_type(request: &HttpRequest) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "Content-Type must be application/json".into(),
        ))
    }
}

/// Reads the body, refusing it as soon as it passes the limit.
async fn read_body(
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

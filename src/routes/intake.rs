//! `PUT|POST /api/v1/{deployment,error,recommendation}`: the pipeline's
//! events come in here. Raw bytes become a validated [`Event`] at this
//! edge; the intake actor answers once the event is recorded, and that
//! answer becomes `202 Accepted`.

use actix::Addr;
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::domain::event::{Event, EventKind, FieldError};
use crate::error::ApiError;
use crate::pipeline::intake::IntakeActor;
use crate::pipeline::messages::{Accept, IdempotencyKey, IntakeError};
use crate::pipeline::metrics::{KindLabel, Metrics};

/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LENGTH: usize = 255;

/// What the intake route needs from the application.
pub struct IntakeRoute {
    pub intake: Addr<IntakeActor>,
    pub token: Option<Secret<String>>,
    pub max_body_bytes: usize,
    pub metrics: std::sync::Arc<Metrics>,
}

pub async fn accept_deployment(
    request: HttpRequest,
    payload: web::Payload,
    route: web::Data<IntakeRoute>,
) -> Result<HttpResponse, ApiError> {
    accept(EventKind::Deployment, request, payload, route).await
}

pub async fn accept_error(
    request: HttpRequest,
    payload: web::Payload,
    route: web::Data<IntakeRoute>,
) -> Result<HttpResponse, ApiError> {
    accept(EventKind::Error, request, payload, route).await
}

pub async fn accept_recommendation(
    request: HttpRequest,
    payload: web::Payload,
    route: web::Data<IntakeRoute>,
) -> Result<HttpResponse, ApiError> {
    accept(EventKind::Recommendation, request, payload, route).await
}

async fn accept(
    kind: EventKind,
    request: HttpRequest,
    payload: web::Payload,
    route: web::Data<IntakeRoute>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let answer = record(kind, &request, payload, &route).await;
    route
        .metrics
        .intake_latency
        .observe(started.elapsed().as_secs_f64());
    if answer.is_ok() {
        route
            .metrics
            .events_received
            .get_or_create(&KindLabel {
                kind: kind.as_str().to_owned(),
            })
            .inc();
    }
    answer
}

async fn record(
    kind: EventKind,
    request: &HttpRequest,
    payload: web::Payload,
    route: &IntakeRoute,
) -> Result<HttpResponse, ApiError> {
    let request = request.clone();
    authorize(&request, route.token.as_ref())?;
    require_json_content_type(&request)?;
    let body = read_body(&request, payload, route.max_body_bytes).await?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid JSON: {error}")))?;
    let event = Event::parse(kind, value).map_err(ApiError::InvalidEvent)?;
    let idempotency = idempotency_key(&request, &body)?;
    let accepted = route
        .intake
        .send(Accept { event, idempotency })
        .await
        .map_err(|_| ApiError::Unavailable)?
        .map_err(|error| match error {
            IntakeError::Overloaded => ApiError::Unavailable,
            IntakeError::Storage(_) => ApiError::StorageUnavailable,
            IntakeError::KeyReused => ApiError::InvalidEvent(FieldError::new(
                "Idempotency-Key",
                "was already used for a different body in the last 24 hours",
            )),
        })?;
    let mut answer = json!({ "id": accepted.id, "kind": kind.as_str() });
    if accepted.repeated {
        answer["repeated"] = json!(true);
    }
    Ok(HttpResponse::Accepted().json(answer))
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

/// `Idempotency-Key`, with a hash of the body to tell a repeat from reuse.
fn idempotency_key(request: &HttpRequest, body: &[u8]) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_KEY_LENGTH {
        return Err(ApiError::InvalidEvent(FieldError::new(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"),
        )));
    }
    let body_hash = Sha256::digest(body)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        body_hash,
    }))
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

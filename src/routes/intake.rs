//! `PUT|POST /api/v1/{deployment,error,recommendation}`: the pipeline's
//! events come in here. Raw bytes become a validated [`Event`] at this
//! edge; the intake actor answers once the event is recorded, and that
//! answer becomes `202 Accepted`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::bearer_token;
use super::body::read_body;
use super::docs::answers::{
    BadRequest, InvalidEvent, PayloadTooLarge, RequestTimeout, Unauthorized, Unavailable,
};
use super::docs::events::{DeploymentEvent, PipelineErrorEvent, RecommendationEvent};
use crate::config::Secret;
use crate::domain::event::{Event, EventKind, FieldError};
use crate::error::ApiError;
use crate::pipeline::messages::{Accept, IdempotencyKey, IntakeError};
use crate::routes::state::AppState;
pub use crate::routes::state::IntakeRoute;

/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LENGTH: usize = 255;

/// `202 Accepted`: the event is recorded (committed) and will be delivered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AcceptedEvent {
    /// The event's id (a UUID v7): `GET /api/v1/events/{id}` shows what
    /// became of it.
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: EventKind,
    /// Present (and true) only when an `Idempotency-Key` repeated a request
    /// from the last 24 hours: `id` is then the original event's, and
    /// nothing is delivered again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repeated: bool,
}

/// Accept a deployment
///
/// Records a deployment report from the pipeline, enriches it (URLs,
/// friendly name, team) and hands it to every subscriber that takes
/// deployments. Answers only once the event is committed.
#[utoipa::path(
    method(put, post),
    path = "/api/v1/deployment",
    request_body(content = DeploymentEvent, content_type = "application/json"),
    params(IdempotencyHeader),
    security((), ("ingestToken" = [])),
    responses(
        (status = 202, description = "Recorded", body = AcceptedEvent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = InvalidEvent),
        (status = 503, response = Unavailable),
    )
)]
pub async fn accept_deployment(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    accept(EventKind::Deployment, request, payload, &state.intake).await
}

/// Accept a failed pipeline step
///
/// Records an error report and hands it to the subscribers that take
/// errors (`slack-error`). Answers only once the event is committed.
#[utoipa::path(
    method(put, post),
    path = "/api/v1/error",
    request_body(content = PipelineErrorEvent, content_type = "application/json"),
    params(IdempotencyHeader),
    security((), ("ingestToken" = [])),
    responses(
        (status = 202, description = "Recorded", body = AcceptedEvent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = InvalidEvent),
        (status = 503, response = Unavailable),
    )
)]
pub async fn accept_error(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    accept(EventKind::Error, request, payload, &state.intake).await
}

/// Accept advice for a team
///
/// Records a recommendation and hands it to the subscribers that take
/// recommendations (`slack-recommendation`). Answers only once the event is
/// committed.
#[utoipa::path(
    method(put, post),
    path = "/api/v1/recommendation",
    request_body(content = RecommendationEvent, content_type = "application/json"),
    params(IdempotencyHeader),
    security((), ("ingestToken" = [])),
    responses(
        (status = 202, description = "Recorded", body = AcceptedEvent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = InvalidEvent),
        (status = 503, response = Unavailable),
    )
)]
pub async fn accept_recommendation(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    accept(EventKind::Recommendation, request, payload, &state.intake).await
}

async fn accept(
    kind: EventKind,
    request: HttpRequest,
    payload: web::Payload,
    route: &IntakeRoute,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let answer = record(kind, &request, payload, route).await;
    route
        .metrics
        .intake_latency
        .observe(started.elapsed().as_secs_f64());
    if answer.is_ok() {
        route.metrics.count_received(kind);
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
    let body = actix_rt::time::timeout(
        route.body_timeout,
        read_body(&request, payload, route.max_body_bytes),
    )
    .await
    .map_err(|_| {
        log::warn!(
            "intake: a request body from {} did not arrive within {}s; answered 408",
            peer(&request),
            route.body_timeout.as_secs()
        );
        ApiError::BodyTimeout {
            seconds: route.body_timeout.as_secs(),
        }
    })??;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid JSON: {error}")))?;
    // The bounds as sent (what the document's maxLength and maxItems
    // say), then the body read.
    route
        .bounds
        .check_sent(kind, &value)
        .map_err(ApiError::InvalidEvent)?;
    let event = Event::parse(kind, value).map_err(ApiError::InvalidEvent)?;
    let idempotency = idempotency_key(&request, &body)?;
    let accepted = route
        .intake
        .send(Accept {
            event,
            idempotency,
            request_id: crate::logging::LogContext::current().request_id,
        })
        .await
        .map_err(ApiError::unavailable)?
        .map_err(|error| match error {
            IntakeError::Overloaded | IntakeError::ShuttingDown => ApiError::unavailable(error),
            IntakeError::Storage(_)
            | IntakeError::RecordTimeout(_)
            | IntakeError::Restarting(_) => ApiError::storage(error),
            IntakeError::KeyReused => ApiError::InvalidEvent(FieldError::new(
                "Idempotency-Key",
                "was already used for a different body in the last 24 hours",
            )),
        })?;
    Ok(HttpResponse::Accepted().json(AcceptedEvent {
        id: accepted.id,
        kind,
        repeated: accepted.repeated,
    }))
}

/// The intake routes' optional header, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct IdempotencyHeader {
    /// Makes a retried request safe: a request repeating a key from the
    /// last 24 hours with the same body is answered with the original
    /// event's id and not delivered again; with a different body it is a
    /// 422. 1 to 255 visible ASCII characters.
    #[param(rename = "Idempotency-Key", pattern = "^[!-~]{1,255}$")]
    idempotency_key: Option<String>,
}

/// With `INGEST_TOKEN` set, a matching bearer token is required. The
/// comparison takes the same time whatever the sent token is.
fn authorize(request: &HttpRequest, token: Option<&Secret<String>>) -> Result<(), ApiError> {
    let Some(token) = token else { return Ok(()) };
    let sent = bearer_token(request);
    if bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        log::warn!(
            "intake refused a request from {} without a valid bearer token",
            peer(request)
        );
        Err(ApiError::Unauthorized)
    }
}

fn peer(request: &HttpRequest) -> String {
    request
        .peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_else(|| "an unknown peer".into())
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
    // Surrounding whitespace is not part of a header's value; inside it,
    // only visible ASCII (no spaces, tabs or other bytes).
    let key = std::str::from_utf8(value.as_bytes())
        .unwrap_or_default()
        .trim_matches([' ', '\t']);
    let visible = |byte: u8| (0x21..=0x7e).contains(&byte);
    if key.is_empty() || key.len() > MAX_KEY_LENGTH || !key.bytes().all(visible) {
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

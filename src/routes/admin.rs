//! The admin API under `/admin`, behind `ADMIN_TOKEN`
//! (`Authorization: Bearer`): what every actor is doing, the on/off switch
//! of each subscriber, the dead letters and their replay, recent events.
//! Without `ADMIN_TOKEN` every route answers 403 saying how to enable it.

use std::collections::HashMap;
use std::future::{Ready, ready};

use actix::Addr;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::store::{event_view, query, rfc3339};
use crate::config::Secret;
use crate::domain::enrichment::EnrichmentSettings;
use crate::domain::event::FieldError;
use crate::error::ApiError;
use crate::pipeline::health::{ActorReport, HealthBoard, now_ms};
use crate::pipeline::messages::SetEnabled;
use crate::pipeline::registry::RegistryActor;
use crate::store::DbPool;
use crate::store::journal::Journal;
use crate::store::models::deliveries::{self, DeliveryState, ReplayTarget};
use crate::store::models::events::{self, EventFilter};
use crate::store::models::replicas;
use crate::store::models::subscriber_settings::{self, SubscriberSetting};

const DEFAULT_LIMIT: i64 = 50;
const MOST_PER_PAGE: i64 = 500;

/// The admin token, when the admin API is on.
pub struct AdminAccess(pub Option<Secret<String>>);

/// Proof that the request carried the admin token; every admin handler
/// takes one, so none can forget the check.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(request))
    }
}

fn check(request: &HttpRequest) -> Result<Admin, ApiError> {
    let token = request
        .app_data::<web::Data<AdminAccess>>()
        .and_then(|access| access.0.clone())
        .ok_or(ApiError::AdminDisabled)?;
    let sent = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
        return Ok(Admin);
    }
    // Logged without what was sent.
    log::warn!(
        "admin: refused {} {} from {}: {}",
        request.method(),
        request.path(),
        request
            .peer_addr()
            .map(|addr| addr.ip().to_string())
            .unwrap_or_else(|| "an unknown peer".into()),
        if sent.is_empty() {
            "no bearer token"
        } else {
            "wrong token"
        }
    );
    Err(ApiError::Unauthorized)
}

/// One actor as the admin API shows it: its live report plus what the
/// journal holds for it.
fn actor_view(report: &ActorReport, counts: &HashMap<(String, i16), i64>) -> Value {
    let mut view = serde_json::to_value(report).unwrap_or(Value::Null);
    if report.role == "subscriber" {
        let count = |state: DeliveryState| {
            counts
                .get(&(report.id.clone(), state as i16))
                .copied()
                .unwrap_or(0)
        };
        view["backlog"] = json!(
            count(DeliveryState::Pending)
                + count(DeliveryState::Retrying)
                + count(DeliveryState::InFlight)
        );
        view["deadLettered"] = json!(count(DeliveryState::Failed));
    }
    if let Some(error) = &report.last_error {
        view["lastError"] = json!({ "message": error.message, "at": rfc3339(error.at_ms) });
    }
    view
}

async fn state_counts(pool: &web::Data<DbPool>) -> Result<HashMap<(String, i16), i64>, ApiError> {
    let rows = query(pool, deliveries::counts_by_state).await?;
    Ok(rows
        .into_iter()
        .map(|(subscriber, state, count)| ((subscriber, state), count))
        .collect())
}

/// `GET /admin/actors`
pub async fn actors(
    _: Admin,
    board: web::Data<HealthBoard>,
    pool: web::Data<DbPool>,
    journal: web::Data<Journal>,
) -> Result<HttpResponse, ApiError> {
    let counts = state_counts(&pool).await?;
    let actors: Vec<Value> = board
        .snapshot()
        .iter()
        .map(|report| actor_view(report, &counts))
        .collect();
    let lease_ms = journal.lease().as_millis() as i64;
    let replicas = query(&pool, move |c| replicas::overview(c, now_ms(), lease_ms)).await?;
    let replicas: Vec<Value> = replicas
        .into_iter()
        .map(|replica| {
            let mut view = serde_json::to_value(&replica).unwrap_or(Value::Null);
            view["startedAt"] = json!(rfc3339(replica.started_at));
            view["heartbeatAt"] = json!(rfc3339(replica.heartbeat_at));
            view
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "replica": journal.owner(),
        "replicas": replicas,
        "actors": actors,
    })))
}

/// `GET /admin/actors/{id}`
pub async fn actor(
    _: Admin,
    id: web::Path<String>,
    board: web::Data<HealthBoard>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let report = board
        .get(&id)
        .map(|health| health.snapshot())
        .ok_or_else(|| ApiError::UnknownId(format!("no actor has the id {id}")))?;
    let counts = state_counts(&pool).await?;
    Ok(HttpResponse::Ok().json(actor_view(&report, &counts)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    enabled: bool,
}

/// `PUT /admin/subscribers/{id}` with `{"enabled": bool}`: takes effect for
/// the next event and is kept across restarts.
pub async fn switch_subscriber(
    _: Admin,
    id: web::Path<String>,
    body: web::Bytes,
    board: web::Data<HealthBoard>,
    journal: web::Data<Journal>,
    registry: web::Data<Addr<RegistryActor>>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let subscriber = board
        .get(&id)
        .filter(|health| health.role == "subscriber")
        .ok_or_else(|| ApiError::UnknownId(format!("no subscriber has the id {id}")))?;
    let switch: Switch = serde_json::from_slice(&body).map_err(|error| {
        ApiError::InvalidQuery(FieldError::new(
            "enabled",
            format!("the body must be {{\"enabled\": true|false}} ({error})"),
        ))
    })?;
    let setting = SubscriberSetting {
        subscriber: id.clone(),
        enabled: i16::from(switch.enabled),
        changed_at: now_ms(),
        changed_by: "admin API".to_owned(),
    };
    journal
        .write(move |c| subscriber_settings::save(c, &setting))
        .await
        .map_err(|_| ApiError::StorageUnavailable)?;
    registry
        .send(SetEnabled {
            id: id.clone(),
            enabled: switch.enabled,
        })
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|error| ApiError::UnknownId(error.to_string()))?;
    log::info!(
        "admin: {id} switched {} through the admin API",
        if switch.enabled { "on" } else { "off" }
    );
    let counts = state_counts(&pool).await?;
    Ok(HttpResponse::Ok().json(actor_view(&subscriber.snapshot(), &counts)))
}

#[derive(Deserialize)]
pub struct DeadLetterQuery {
    subscriber: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /admin/dead-letters?subscriber=&limit=&cursor=`: failed deliveries,
/// newest first, with their last error.
pub async fn dead_letters(
    _: Admin,
    params: web::Query<DeadLetterQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = parse_limit(params.limit.as_deref())?;
    let before = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
            ApiError::InvalidQuery(FieldError::new(
                "cursor",
                "must be a nextCursor from a previous page",
            ))
        })?),
    };
    let subscriber = params.subscriber.filter(|s| !s.is_empty());
    let rows = query(&pool, move |c| {
        let rows = deliveries::dead_letters(c, subscriber.as_deref(), before, limit)?;
        let event_ids: Vec<String> = rows.iter().map(|r| r.event_id.clone()).collect();
        let events = events::find_many(c, &event_ids)?;
        Ok((rows, events))
    })
    .await?;
    let (rows, found) = rows;
    let kinds: HashMap<&str, &str> = found
        .iter()
        .map(|e| (e.id.as_str(), e.kind.as_str()))
        .collect();
    let items: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.id,
                "eventId": row.event_id,
                "kind": kinds.get(row.event_id.as_str()),
                "subscriber": row.subscriber,
                "attempts": row.attempts,
                "lastError": row.last_error,
                "failedAt": rfc3339(row.updated_at),
            })
        })
        .collect();
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "deadLetters": items, "nextCursor": next })))
}

/// `POST /admin/dead-letters/{id}/replay`
pub async fn replay_one(
    _: Admin,
    id: web::Path<String>,
    journal: web::Data<Journal>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::UnknownId(format!("no dead letter has the id {id}"));
    let delivery: i64 = id.parse().map_err(|_| not_found())?;
    let now = now_ms();
    let replayed = journal
        .write(move |c| deliveries::replay(c, &ReplayTarget::Delivery(delivery), now))
        .await
        .map_err(|_| ApiError::StorageUnavailable)?;
    if replayed == 0 {
        return Err(not_found());
    }
    log::info!("admin: dead letter {delivery} replayed");
    Ok(HttpResponse::Ok().json(json!({ "replayed": replayed })))
}

#[derive(Deserialize)]
pub struct ReplayQuery {
    subscriber: Option<String>,
}

/// `POST /admin/dead-letters/replay?subscriber=…`
pub async fn replay_subscriber(
    _: Admin,
    params: web::Query<ReplayQuery>,
    board: web::Data<HealthBoard>,
    journal: web::Data<Journal>,
) -> Result<HttpResponse, ApiError> {
    let subscriber = params
        .into_inner()
        .subscriber
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::InvalidQuery(FieldError::new("subscriber", "is required")))?;
    if board
        .get(&subscriber)
        .filter(|h| h.role == "subscriber")
        .is_none()
    {
        return Err(ApiError::UnknownId(format!(
            "no subscriber has the id {subscriber}"
        )));
    }
    let now = now_ms();
    let target = ReplayTarget::Subscriber(subscriber.clone());
    let replayed = journal
        .write(move |c| deliveries::replay(c, &target, now))
        .await
        .map_err(|_| ApiError::StorageUnavailable)?;
    log::info!("admin: {replayed} dead letters of {subscriber} replayed");
    Ok(HttpResponse::Ok().json(json!({ "replayed": replayed })))
}

#[derive(Deserialize)]
pub struct EventQuery {
    kind: Option<String>,
    application: Option<String>,
    cluster: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /admin/events?limit=&cursor=&kind=&application=&cluster=`: recent
/// events, each with every subscriber's outcome.
pub async fn recent_events(
    _: Admin,
    params: web::Query<EventQuery>,
    pool: web::Data<DbPool>,
    settings: web::Data<EnrichmentSettings>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let text = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = EventFilter {
        kind: text(params.kind),
        application: text(params.application),
        cluster: text(params.cluster),
        before: text(params.cursor),
        limit: parse_limit(params.limit.as_deref())?,
    };
    let limit = filter.limit;
    let (found, outcomes) = query(&pool, move |c| {
        let found = events::recent(c, &filter)?;
        let ids: Vec<String> = found.iter().map(|e| e.id.clone()).collect();
        let outcomes = deliveries::for_events(c, &ids)?;
        Ok((found, outcomes))
    })
    .await?;
    let mut by_event: HashMap<&str, Vec<deliveries::DeliveryRow>> = HashMap::new();
    for row in &outcomes {
        by_event
            .entry(row.event_id.as_str())
            .or_default()
            .push(row.clone());
    }
    let items: Vec<Value> = found
        .iter()
        .map(|event| {
            let rows = by_event
                .get(event.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            event_view(event, rows, &settings)
        })
        .collect();
    let next = (found.len() as i64 == limit)
        .then(|| found.last().map(|e| e.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "events": items, "nextCursor": next })))
}

fn parse_limit(text: Option<&str>) -> Result<i64, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.trim().parse::<i64>() {
        Ok(limit) if (1..=MOST_PER_PAGE).contains(&limit) => Ok(limit),
        _ => Err(ApiError::InvalidQuery(FieldError::new(
            "limit",
            format!("must be a whole number from 1 to {MOST_PER_PAGE}"),
        ))),
    }
}

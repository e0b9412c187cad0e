//! The admin API under `/admin`, behind `ADMIN_TOKEN`
//! (`Authorization: Bearer`): what every actor is doing, the on/off switch
//! of each subscriber, the dead letters and their replay, recent events.
//! Without `ADMIN_TOKEN` every route answers 403 saying how to enable it.

use std::collections::HashMap;
use std::future::{Ready, ready};

use actix::Addr;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::body::{MAX_ADMIN_BODY_BYTES, read_body};
use super::docs::answers::{
    AdminDisabled, AdminPayloadTooLarge, Internal, InvalidQuery, NotFound, Unauthorized,
    Unavailable,
};
use super::store::{EventView, event_view, heavy_query, query, rfc3339};
use super::{bearer_token, log_token_refused};
use crate::clock::SharedClock;
use crate::config::Secret;
use crate::domain::event::{EventKind, FieldError};
use crate::engine::health::CircuitReport;
use crate::engine::rate_limit::LimiterReport;
use crate::engine::{ActorReport, ActorState, Role};
use crate::error::ApiError;
use crate::pipeline::health::HealthBoard;
use crate::pipeline::messages::{SetEnabled, SwitchError};
use crate::pipeline::registry::RegistryActor;
use crate::store::DbPool;
use crate::store::journal::Journal;
use crate::store::models::deliveries::{self, DeliveryState, ReplayTarget};
use crate::store::models::events::{self, EventFilter};
use crate::store::models::replicas;
use crate::store::reads::ReadRoutes;

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
    let sent = bearer_token(request);
    if bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
        return Ok(Admin);
    }
    log_token_refused("admin", request, sent.as_bytes());
    Err(ApiError::Unauthorized)
}

/// One actor as the admin API shows it: its live report plus, for a
/// subscriber, what the journal holds for it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorView {
    /// E.g. `intake`, `journal-writer`, `slack-deployment`.
    pub id: String,
    pub role: Role,
    pub state: ActorState,
    pub restarts: u64,
    /// Why it was last restarted.
    pub last_restart_cause: Option<String>,
    pub received: u64,
    pub delivered: u64,
    pub skipped: u64,
    pub failed: u64,
    pub retried: u64,
    /// Events refused because its queue was full.
    pub dropped: u64,
    /// Deliveries given back to wait for their turn (rate limit, circuit).
    pub deferred: u64,
    /// Rounds of periodic work done (sweeps, heartbeats).
    pub rounds: u64,
    /// Messages waiting in its queue.
    pub queued: u64,
    pub in_flight: u64,
    /// How long its longest running delivery attempt has been running;
    /// past the subscriber's deadline its state is `busy-past-deadline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longest_attempt_ms: Option<u64>,
    pub last_error: Option<LastErrorView>,
    /// Subscribers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub circuit: Option<CircuitReport>,
    /// Subscribers with a pace only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rate_limit: Option<LimiterReport>,
    /// Subscribers only: deliveries pending, retrying or in flight in the
    /// journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub backlog: Option<i64>,
    /// Subscribers only: failed deliveries (dead letters) in the journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub dead_lettered: Option<i64>,
}

/// An actor's last error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LastErrorView {
    pub message: String,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
}

/// One actor as the admin API shows it: its live report plus what the
/// journal holds for it.
fn actor_view(report: &ActorReport, counts: &HashMap<(String, DeliveryState), i64>) -> ActorView {
    let count = |state: DeliveryState| {
        counts
            .get(&(report.id.clone(), state))
            .copied()
            .unwrap_or(0)
    };
    let subscriber = report.role == Role::Subscriber;
    ActorView {
        id: report.id.clone(),
        role: report.role,
        state: report.state,
        restarts: report.restarts,
        last_restart_cause: report.last_restart_cause.clone(),
        received: report.received,
        delivered: report.delivered,
        skipped: report.skipped,
        failed: report.failed,
        retried: report.retried,
        dropped: report.dropped,
        deferred: report.deferred,
        rounds: report.rounds,
        queued: report.queued,
        in_flight: report.in_flight,
        longest_attempt_ms: report.longest_attempt_ms,
        last_error: report.last_error.as_ref().map(|error| LastErrorView {
            message: error.message.clone(),
            at: rfc3339(error.at_ms),
        }),
        circuit: report.circuit.clone(),
        rate_limit: report.rate_limit.clone(),
        backlog: subscriber.then(|| {
            count(DeliveryState::Pending)
                + count(DeliveryState::Retrying)
                + count(DeliveryState::InFlight)
        }),
        dead_lettered: subscriber.then(|| count(DeliveryState::Failed)),
    }
}

/// Every actor, and the replicas sharing the database.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActorsOverview {
    /// The id of the replica that answered.
    pub replica: String,
    pub replicas: Vec<ReplicaEntry>,
    pub actors: Vec<ActorView>,
}

/// A replica (a process sharing the database) as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaEntry {
    pub id: String,
    /// `HOSTNAME:PORT`.
    pub host: String,
    #[schema(format = DateTime)]
    pub started_at: String,
    /// Its last heartbeat (RFC 3339).
    #[schema(format = DateTime)]
    pub heartbeat_at: String,
    /// Whether its heartbeat is within the lease.
    pub live: bool,
    /// Subscribers it delivers for.
    pub owns: Vec<String>,
    /// Deliveries it holds leased right now.
    pub leased: i64,
}

async fn state_counts(
    pool: &web::Data<DbPool>,
) -> Result<HashMap<(String, DeliveryState), i64>, ApiError> {
    let rows = query(pool, deliveries::counts_by_state).await?;
    Ok(rows
        .into_iter()
        .map(|(subscriber, state, count)| ((subscriber, state), count))
        .collect())
}

/// Every actor
///
/// Each actor (intake, enricher, registry, sweeper, coordinator, journal
/// writer, each subscriber) with its state, restarts, counters, last error,
/// circuit breaker and rate limits; and which replica answered.
#[utoipa::path(
    get,
    path = "/admin/actors",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Every actor", body = ActorsOverview),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn actors(
    _: Admin,
    board: web::Data<HealthBoard>,
    pool: web::Data<DbPool>,
    journal: web::Data<Journal>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let counts = state_counts(&pool).await?;
    let actors = board
        .snapshot()
        .iter()
        .map(|report| actor_view(report, &counts))
        .collect();
    let lease_ms = journal.lease().as_millis() as i64;
    let now = clock.now_ms();
    let replicas = query(&pool, move |c| replicas::overview(c, now, lease_ms)).await?;
    let replicas = replicas
        .into_iter()
        .map(|replica| ReplicaEntry {
            id: replica.id,
            host: replica.host,
            started_at: rfc3339(replica.started_at),
            heartbeat_at: rfc3339(replica.heartbeat_at),
            live: replica.live,
            owns: replica.owns,
            leased: replica.leased,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ActorsOverview {
        replica: journal.owner().to_owned(),
        replicas,
        actors,
    }))
}

/// One actor
#[utoipa::path(
    get,
    path = "/admin/actors/{id}",
    params(("id" = String, Path, description = "The actor's id, e.g. `slack-deployment`")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The actor", body = ActorView),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn actor(
    _: Admin,
    id: web::Path<String>,
    board: web::Data<HealthBoard>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let report = board
        .report(&id)
        .ok_or_else(|| ApiError::UnknownId(format!("no actor has the id {id}")))?;
    let counts = state_counts(&pool).await?;
    Ok(HttpResponse::Ok().json(actor_view(&report, &counts)))
}

/// A subscriber's switch.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// `false`: events arriving while it is off are recorded as skipped
    /// (`disabled`), and what it already had waits in the journal.
    enabled: bool,
}

/// Switch a subscriber off or on
///
/// Takes effect for the next event and is kept in the database, so it
/// outlives restarts and reaches every replica (the registry, which owns
/// the switch, stores it).
#[utoipa::path(
    put,
    path = "/admin/subscribers/{id}",
    params(("id" = String, Path, description = "The subscriber's id, e.g. `slack-deployment`")),
    request_body(content = Switch, content_type = "application/json"),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The subscriber as it is now", body = ActorView),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 404, response = NotFound),
        (status = 413, response = AdminPayloadTooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn switch_subscriber(
    _: Admin,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    board: web::Data<HealthBoard>,
    registry: web::Data<Addr<RegistryActor>>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !board.is_subscriber(&id) {
        return Err(ApiError::UnknownId(format!(
            "no subscriber has the id {id}"
        )));
    }
    let body = read_body(&request, payload, MAX_ADMIN_BODY_BYTES).await?;
    let switch: Switch = serde_json::from_slice(&body).map_err(|error| {
        ApiError::InvalidQuery(FieldError::new(
            "enabled",
            format!("the body must be {{\"enabled\": true|false}} ({error})"),
        ))
    })?;
    registry
        .send(SetEnabled {
            id: id.clone(),
            enabled: switch.enabled,
            by: "admin API".to_owned(),
        })
        .await
        .map_err(ApiError::unavailable)?
        .map_err(|error| match error {
            SwitchError::UnknownSubscriber(_) => ApiError::UnknownId(error.to_string()),
            SwitchError::Storage(_) => ApiError::storage(error),
        })?;
    log::info!(
        "admin: {id} switched {} through the admin API",
        if switch.enabled { "on" } else { "off" }
    );
    let counts = state_counts(&pool).await?;
    let report = board
        .report(&id)
        .ok_or_else(|| ApiError::internal("a switched subscriber has no health report"))?;
    Ok(HttpResponse::Ok().json(actor_view(&report, &counts)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Only this subscriber's.
    subscriber: Option<String>,
    /// Dead letters per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A page of dead letters, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterPage {
    pub dead_letters: Vec<DeadLetter>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A failed delivery, kept until it is replayed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The delivery's id, for `POST /admin/dead-letters/{id}/replay`.
    pub id: i64,
    #[schema(format = "uuid")]
    pub event_id: String,
    /// The event's kind (null if the event is gone).
    #[schema(value_type = Option<EventKind>)]
    pub kind: Option<String>,
    pub subscriber: String,
    pub attempts: i32,
    /// The last failure, secrets taken out.
    pub last_error: Option<String>,
    /// When it failed for the last time (RFC 3339).
    #[schema(format = DateTime)]
    pub failed_at: String,
}

/// How many dead letters were sent again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub replayed: usize,
}

/// Dead letters
///
/// Failed deliveries, newest first, with their last error.
#[utoipa::path(
    get,
    path = "/admin/dead-letters",
    params(DeadLetterQuery),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "A page of dead letters", body = DeadLetterPage),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn dead_letters(
    _: Admin,
    params: web::Query<DeadLetterQuery>,
    reads: web::Data<ReadRoutes>,
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
    // A listing: behind the read routes' gate, like theirs.
    let rows = heavy_query(&reads, move |c| {
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
    let dead_letters = rows
        .iter()
        .map(|row| DeadLetter {
            id: row.id,
            event_id: row.event_id.clone(),
            kind: kinds
                .get(row.event_id.as_str())
                .map(|kind| (*kind).to_owned()),
            subscriber: row.subscriber.clone(),
            attempts: row.attempts,
            last_error: row.last_error.clone(),
            failed_at: rfc3339(row.updated_at),
        })
        .collect();
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(DeadLetterPage {
        dead_letters,
        next_cursor,
    }))
}

/// Replay one dead letter
///
/// Sends it again, on a fresh retry schedule.
#[utoipa::path(
    post,
    path = "/admin/dead-letters/{id}/replay",
    params(("id" = i64, Path, description = "The dead letter's `id`")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Replayed", body = Replayed),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn replay_one(
    _: Admin,
    id: web::Path<String>,
    journal: web::Data<Journal>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::UnknownId(format!("no dead letter has the id {id}"));
    let delivery: i64 = id.parse().map_err(|_| not_found())?;
    let replayed = journal
        .replay(ReplayTarget::Delivery(delivery))
        .await
        .map_err(ApiError::storage)?;
    if replayed == 0 {
        return Err(not_found());
    }
    log::info!("admin: dead letter {delivery} replayed");
    Ok(HttpResponse::Ok().json(Replayed { replayed }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Whose dead letters to send again (required).
    #[param(required = true)]
    subscriber: Option<String>,
}

/// Replay a subscriber's dead letters
///
/// Sends every dead letter of one subscriber again, each on a fresh retry
/// schedule.
#[utoipa::path(
    post,
    path = "/admin/dead-letters/replay",
    params(ReplayQuery),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Replayed", body = Replayed),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
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
    if !board.is_subscriber(&subscriber) {
        return Err(ApiError::UnknownId(format!(
            "no subscriber has the id {subscriber}"
        )));
    }
    let replayed = journal
        .replay(ReplayTarget::Subscriber(subscriber.clone()))
        .await
        .map_err(ApiError::storage)?;
    log::info!("admin: {replayed} dead letters of {subscriber} replayed");
    Ok(HttpResponse::Ok().json(Replayed { replayed }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events of this kind.
    #[param(value_type = Option<EventKind>)]
    kind: Option<String>,
    /// Only deployments of this application.
    application: Option<String>,
    /// Only deployments to this cluster.
    cluster: Option<String>,
    /// Events per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A page of recent events, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Recent events
///
/// Recent events, newest first, each with every subscriber's outcome.
#[utoipa::path(
    get,
    path = "/admin/events",
    params(EventQuery),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn recent_events(
    _: Admin,
    params: web::Query<EventQuery>,
    reads: web::Data<ReadRoutes>,
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
    // A listing: behind the read routes' gate, like theirs.
    let (found, outcomes) = heavy_query(&reads, move |c| {
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
    let events = found
        .iter()
        .map(|event| {
            let rows = by_event
                .get(event.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            event_view(event, rows)
        })
        .collect();
    let next_cursor = (found.len() as i64 == limit)
        .then(|| found.last().map(|e| e.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(EventPage {
        events,
        next_cursor,
    }))
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

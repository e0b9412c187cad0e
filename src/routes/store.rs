//! The query routes: the deployment history dashboards read, and "what
//! happened to my event?". JSON, newest first, with cursor pagination.
//! Database work runs on the blocking pool, never on the HTTP workers; the
//! listings run on the read routes' own pool behind their gate
//! (`store::reads`), so no dashboard takes a delivery's connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::docs::answers::{Internal, InvalidQuery, NotFound, Unauthorized, Unavailable};
use super::docs::events::{EnrichedDeployment, RecordedEvent};
use super::page::{Listed, Page, next_cursor, parse_limit};
use super::params::{TimeForms, filter, given, since_schema, time};
use super::read_access::Reader;
use super::state::AppState;
pub use crate::clock::rfc3339;
use crate::domain::event::EventKind;
use crate::domain::{Destination, plan};
use crate::error::ApiError;
use crate::store::DbPool;
use crate::store::models::deliveries::{self, DeliveryRow, DeliveryState};
use crate::store::models::deployments::{self, DeploymentFilter, DeploymentRow};
use crate::store::models::events::{self, EventRow};
use crate::store::reads::{ReadFailed, ReadGate, ReadPermit, ReadRoutes, Refused, bounded};

/// Runs a query on the blocking pool with a pooled connection.
pub async fn query<T: Send + 'static>(
    pool: &DbPool,
    work: impl FnOnce(&mut crate::store::AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    on_pool(pool.clone(), (), work).await
}

/// Runs a heavy read (a listing) through the read routes' gate, on their
/// pool; past `READ_CONCURRENCY` it is answered 503 at once.
pub async fn heavy_query<T: Send + 'static>(
    reads: &ReadRoutes,
    work: impl FnOnce(&mut crate::store::AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    within_budget(reads).await?;
    let permit = enter(&reads.heavy, 1).await?;
    let deadline = Instant::now() + reads.timeout;
    on_reads(reads, Arc::new(permit), deadline, work).await
}

/// Runs a heavy read let in by `permit` on the read routes' pool and their
/// low-priority threads, stopped at `deadline` (`READ_TIMEOUT_MS` after it
/// was let in): past it the answer is a 503 naming the limit. Whatever
/// `work` returns is made there too, so a large answer is serialised
/// there, not on an HTTP worker intake shares.
pub async fn on_reads<T: Send + 'static, P: Send + 'static>(
    reads: &ReadRoutes,
    permit: P,
    deadline: Instant,
    work: impl FnOnce(&mut crate::store::AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let (pool, ms) = (reads.pool.clone(), reads.timeout.as_millis() as u64);
    reads
        .threads
        .run(move || {
            let _permit = permit;
            bounded_read(&pool, deadline, ms, work)
        })
        .await
        .map_err(|_| ApiError::internal("a read's thread panicked"))?
}

/// Runs the metrics' gauge read like [`on_reads`], but on the blocking
/// pool at normal priority: a scrape is not made to wait for dashboards.
pub async fn on_metrics_reads<T: Send + 'static, P: Send + 'static>(
    reads: &ReadRoutes,
    permit: P,
    deadline: Instant,
    work: impl FnOnce(&mut crate::store::AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let (pool, ms) = (reads.pool.clone(), reads.timeout.as_millis() as u64);
    web::block(move || {
        let _permit = permit;
        bounded_read(&pool, deadline, ms, work)
    })
    .await
    .map_err(ApiError::internal)?
}

fn bounded_read<T>(
    pool: &DbPool,
    deadline: Instant,
    ms: u64,
    work: impl FnOnce(&mut crate::store::AnyConnection) -> diesel::QueryResult<T>,
) -> Result<T, ApiError> {
    let mut connection = pool.get().map_err(ApiError::storage)?;
    bounded(&mut connection, deadline, work).map_err(|failed| match failed {
        ReadFailed::TimedOut => {
            log::warn!("query: a read was stopped at its limit of {ms} ms (READ_TIMEOUT_MS)");
            ApiError::ReadTimedOut { ms }
        }
        ReadFailed::Query(error) => ApiError::internal(error),
    })
}

/// How long a read the gate refuses waits before its 503: a client that
/// does not wait for `Retry-After` cannot make the server answer
/// refusals in a tight loop, on the cores the deliveries need (the wait
/// costs a timer, not a thread).
pub const REFUSAL_PAUSE: Duration = Duration::from_millis(250);

/// Counts a heavy read against `HEAVY_READS_PER_SECOND`, or answers the
/// refusal after [`REFUSAL_PAUSE`].
pub async fn within_budget(reads: &ReadRoutes) -> Result<(), ApiError> {
    let taken = reads.budget.take(reads.clock.now_ms());
    admitted_or_paused(taken).await
}

/// Lets a read that uses `connections` connections through `gate`, or
/// answers the refusal after [`REFUSAL_PAUSE`].
pub async fn enter(gate: &Arc<ReadGate>, connections: usize) -> Result<ReadPermit, ApiError> {
    admitted_or_paused(gate.try_enter(connections)).await
}

/// A refusal answered only after [`REFUSAL_PAUSE`].
async fn admitted_or_paused<T>(admitted: Result<T, Refused>) -> Result<T, ApiError> {
    match admitted {
        Ok(admitted) => Ok(admitted),
        Err(refusal) => {
            actix_web::rt::time::sleep(REFUSAL_PAUSE).await;
            Err(refused(refusal))
        }
    }
}

/// The answer to a read the gate did not let in.
pub fn refused(refused: Refused) -> ApiError {
    match refused {
        Refused::Busy { limit } => ApiError::ReadsBusy { limit },
        Refused::Closed => ApiError::ReadsPaused,
        Refused::OverBudget { per_second } => ApiError::ReadsOverBudget { per_second },
    }
}

/// Runs `work` on the blocking pool with a connection of `pool`, holding
/// `permit` until it ends (also when the client has gone meanwhile, so the
/// gate counts the reads really running).
pub async fn on_pool<T: Send + 'static, P: Send + 'static>(
    pool: DbPool,
    permit: P,
    work: impl FnOnce(&mut crate::store::AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(move || {
        let _permit = permit;
        let mut connection = pool.get().map_err(ApiError::storage)?;
        work(&mut connection).map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeploymentQuery {
    /// Only deployments to this cluster.
    cluster: Option<String>,
    /// Only deployments of this application (`applicationName`).
    application: Option<String>,
    /// Only deployments of this team.
    team: Option<String>,
    #[param(schema_with = since_schema)]
    since: Option<String>,
    /// Deployments per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A deployment from the history, enriched as it was when received.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredDeployment {
    /// The event's id.
    #[schema(format = "uuid")]
    pub id: String,
    /// When it was received (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime)]
    pub received_at: String,
    #[schema(value_type = EnrichedDeployment)]
    pub deployment: Value,
}

impl Listed for StoredDeployment {
    const FIELD: &'static str = "deployments";
    const PAGE: &'static str = "DeploymentPage";
    const DESCRIPTION: &'static str = "A page of stored deployments, newest first.";
}

/// A page of stored deployments, newest first.
pub type DeploymentPage = Page<StoredDeployment>;

/// The latest deployment of each application in a cluster, a page of
/// applications at a time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDeployments {
    pub cluster: String,
    /// One per application, by application name.
    pub deployments: Vec<StoredDeployment>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LatestQuery {
    /// Applications per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// List stored deployments
///
/// The deployment history dashboards read, newest first, with cursor
/// pagination.
#[utoipa::path(
    get,
    path = "/api/v1/deployments",
    params(DeploymentQuery),
    security((), ("readToken" = [])),
    responses(
        (status = 200, description = "A page of deployments", body = DeploymentPage),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn deployments(
    _: Reader,
    state: web::Data<AppState>,
    params: web::Query<DeploymentQuery>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = parse_limit(params.limit.as_deref())?;
    let filter = DeploymentFilter {
        cluster: filter(params.cluster),
        application: filter(params.application),
        team: filter(params.team),
        since: given(params.since)
            .map(|since| time("since", &since, TimeForms::Instant))
            .transpose()?,
        before: filter(params.cursor),
        limit,
    };
    // Serialised on the read thread: a 500-row page is most of the work.
    let body = heavy_query(&state.reads, move |c| {
        let rows = deployments::search(c, &filter)?;
        json_bytes(&DeploymentPage {
            items: rows.iter().map(deployment_view).collect(),
            next_cursor: next_cursor(&rows, limit, |row| row.id.clone()),
        })
    })
    .await?;
    Ok(json_answer(body))
}

/// `value` as a JSON body, made where the read ran.
pub fn json_bytes(value: &impl Serialize) -> diesel::QueryResult<web::Bytes> {
    serde_json::to_vec(value)
        .map(web::Bytes::from)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))
}

/// A 200 with a JSON body made beforehand.
pub fn json_answer(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

/// One stored deployment
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}",
    params(("id" = String, Path, description = "The deployment event's id")),
    security((), ("readToken" = [])),
    responses(
        (status = 200, description = "The deployment", body = StoredDeployment),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn deployment(
    _: Reader,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = query(&state.pool, move |c| deployments::find(c, &id)).await?;
    let row = row.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(deployment_view(&row)))
}

/// The latest deployment of each application in a cluster
///
/// By application name, with cursor pagination over the applications. An
/// unknown cluster has no deployments (200 with an empty list).
#[utoipa::path(
    get,
    path = "/api/v1/clusters/{cluster}/latest",
    params(("cluster" = String, Path, description = "The cluster's name"), LatestQuery),
    security((), ("readToken" = [])),
    responses(
        (status = 200, description = "Each application's latest deployment", body = ClusterDeployments),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn latest_in_cluster(
    _: Reader,
    state: web::Data<AppState>,
    cluster: web::Path<String>,
    params: web::Query<LatestQuery>,
) -> Result<HttpResponse, ApiError> {
    let cluster = cluster.into_inner();
    let params = params.into_inner();
    let limit = parse_limit(params.limit.as_deref())?;
    // Not trimmed: an application name is matched exactly.
    let after = given(params.cursor);
    let name = cluster.clone();
    let body = heavy_query(&state.reads, move |c| {
        let rows = deployments::latest_in_cluster(c, &name, after.as_deref(), limit)?;
        json_bytes(&ClusterDeployments {
            cluster,
            deployments: rows.iter().map(deployment_view).collect(),
            next_cursor: next_cursor(&rows, limit, |row| row.application.clone()),
        })
    })
    .await?;
    Ok(json_answer(body))
}

/// What happened to an event
///
/// The event as subscribers received it (the journal keeps it enriched,
/// so it shows what was delivered even after a settings change), with each
/// subscriber's outcome.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    params(("id" = String, Path, description = "The id intake answered with")),
    security((), ("readToken" = [])),
    responses(
        (status = 200, description = "The event and its deliveries", body = EventView),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn event(
    _: Reader,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = query(&state.pool, move |c| {
        let Some(event) = events::find(c, &id)? else {
            return Ok(None);
        };
        let deliveries = deliveries::for_event(c, &id)?;
        Ok(Some((event, deliveries)))
    })
    .await?;
    let (event, deliveries) = found.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(event_view(&event, &deliveries)))
}

/// One subscriber's part in an event, as the event routes show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The subscriber's id, e.g. `slack-deployment`.
    pub subscriber: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i32,
    /// What was done, or why it was skipped.
    pub outcome: Option<String>,
    /// The last failure, secrets taken out.
    pub last_error: Option<String>,
    /// When a pending or retrying delivery is next tried (RFC 3339).
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// When the outcome was last written (RFC 3339).
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
    /// Where it goes, as planned when the event was accepted (absent for
    /// a skip, and for a delivery recorded before plans were stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<Destination>>,
}

/// An event with every subscriber's part in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(value_type = EventKind)]
    pub kind: String,
    /// When it was received (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime)]
    pub received_at: String,
    /// The event as its subscribers received it (a deployment enriched).
    #[schema(value_type = RecordedEvent)]
    pub event: Value,
    /// One per subscriber that takes this kind, by subscriber id.
    pub deliveries: Vec<DeliveryView>,
}

/// An event with every subscriber's part in it: its delivery, or the skip
/// decided when the event was planned (recorded with the event).
pub fn event_view(event: &EventRow, rows: &[DeliveryRow]) -> EventView {
    let mut views: Vec<DeliveryView> = rows.iter().map(delivery_view).collect();
    if let Ok(Value::Object(skipped)) = serde_json::from_str::<Value>(&event.skipped) {
        for (subscriber, reason) in skipped {
            views.push(DeliveryView {
                subscriber,
                state: DeliveryState::Skipped,
                attempts: 0,
                outcome: reason.as_str().map(str::to_owned),
                last_error: None,
                next_attempt_at: None,
                updated_at: Some(rfc3339(event.received_at)),
                destinations: None,
            });
        }
    }
    views.sort_by(|a, b| a.subscriber.cmp(&b.subscriber));
    EventView {
        id: event.id.clone(),
        kind: event.kind.clone(),
        received_at: rfc3339(event.received_at),
        event: serde_json::from_str::<Value>(&event.body).unwrap_or(Value::Null),
        deliveries: views,
    }
}

fn delivery_view(row: &DeliveryRow) -> DeliveryView {
    let state = row.state;
    DeliveryView {
        subscriber: row.subscriber.clone(),
        state,
        attempts: row.attempts,
        outcome: row.outcome.clone(),
        last_error: row.last_error.clone(),
        next_attempt_at: matches!(state, DeliveryState::Pending | DeliveryState::Retrying)
            .then(|| rfc3339(row.due_at)),
        updated_at: Some(rfc3339(row.updated_at)),
        destinations: plan::read_stored(row.destinations.as_deref()),
    }
}

fn deployment_view(row: &DeploymentRow) -> StoredDeployment {
    StoredDeployment {
        id: row.id.clone(),
        received_at: rfc3339(row.received_at),
        deployment: serde_json::from_str::<Value>(&row.body).unwrap_or(Value::Null),
    }
}

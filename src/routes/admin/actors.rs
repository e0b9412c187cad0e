//! What every actor is doing: `GET /admin/actors` (with the replicas
//! sharing the database) and `GET /admin/actors/{id}`.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::Admin;
use crate::clock::rfc3339;
use crate::engine::{ActorReport, Role};
use crate::error::ApiError;
use crate::routes::docs::answers::{AdminDisabled, Internal, NotFound, Unauthorized, Unavailable};
use crate::routes::state::AppState;
use crate::routes::store::query;
use crate::store::DbPool;
use crate::store::models::deliveries::{self, DeliveryState};
use crate::store::models::replicas;

/// Deliveries in the journal, by subscriber and state.
pub struct JournalCounts(HashMap<(String, DeliveryState), i64>);

impl JournalCounts {
    pub async fn read(pool: &DbPool) -> Result<Self, ApiError> {
        let rows = query(pool, deliveries::counts_by_state).await?;
        Ok(JournalCounts(
            rows.into_iter()
                .map(|(subscriber, state, count)| ((subscriber, state), count))
                .collect(),
        ))
    }

    /// The report with, for a subscriber, what the journal holds for it.
    pub fn add_to(&self, mut report: ActorReport) -> ActorReport {
        if report.role == Role::Subscriber {
            let count = |state: DeliveryState| {
                self.0
                    .get(&(report.id.clone(), state))
                    .copied()
                    .unwrap_or(0)
            };
            report.backlog = Some(DeliveryState::UNFINISHED.iter().copied().map(count).sum());
            report.dead_lettered = Some(count(DeliveryState::Failed));
        }
        report
    }
}

/// Every actor, and the replicas sharing the database.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActorsOverview {
    /// The id of the replica that answered.
    pub replica: String,
    pub replicas: Vec<ReplicaEntry>,
    pub actors: Vec<ActorReport>,
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
    /// Whether its PostgreSQL session holds its presence lock (when the
    /// session ends, the others take its subscribers at once); always
    /// false on SQLite.
    pub presence: bool,
    /// Subscribers it delivers for.
    pub owns: Vec<String>,
    /// Deliveries it holds leased right now.
    pub leased: i64,
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
pub async fn actors(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let counts = JournalCounts::read(&state.pool).await?;
    let actors = state
        .health
        .snapshot()
        .into_iter()
        .map(|report| counts.add_to(report))
        .collect();
    let lease_ms = state.journal.lease().as_millis() as i64;
    let now = state.clock.now_ms();
    let replicas = query(&state.pool, move |c| replicas::overview(c, now, lease_ms)).await?;
    let replicas = replicas
        .into_iter()
        .map(|replica| ReplicaEntry {
            id: replica.id,
            host: replica.host,
            started_at: rfc3339(replica.started_at),
            heartbeat_at: rfc3339(replica.heartbeat_at),
            live: replica.live,
            presence: replica.presence,
            owns: replica.owns,
            leased: replica.leased,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ActorsOverview {
        replica: state.journal.owner().to_owned(),
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
        (status = 200, description = "The actor", body = ActorReport),
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
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let report = state
        .health
        .report(&id)
        .ok_or_else(|| ApiError::UnknownId(format!("no actor has the id {id}")))?;
    let counts = JournalCounts::read(&state.pool).await?;
    Ok(HttpResponse::Ok().json(counts.add_to(report)))
}

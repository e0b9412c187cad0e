//! Operations endpoints, without authentication: `/healthz` (alive),
//! `/readyz` (able to take events) and `/metrics` (Prometheus).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::docs::answers::Unavailable;
use super::state::AppState;
use super::store::{enter, on_metrics_reads};
use crate::engine::ActorState;
use crate::error::ApiError;
use crate::pipeline::metrics::{CONTENT_TYPE, JournalGauges};
use crate::store::models::deliveries::{self, DeliveryState};
use crate::store::models::replicas;

/// `/healthz`: the process answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Alive {
    pub status: AliveStatus,
    /// Each actor's state, by actor id.
    #[schema(value_type = std::collections::HashMap<String, ActorState>)]
    pub actors: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AliveStatus {
    Ok,
}

/// `/readyz` with 200: the service takes events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    pub status: ReadyStatus,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadyStatus {
    Ready,
}

/// `/readyz` with 503: why the service does not take events now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unready {
    pub status: UnreadyStatus,
    /// E.g. `storage is unreachable`, `slack-deployment is restarting`.
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnreadyStatus {
    Unready,
}

/// Alive
///
/// The process answers, with each actor's state (no counters, no errors:
/// those are the admin API's). No authentication.
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, description = "Alive", body = Alive))
)]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let actors = state
        .health
        .snapshot()
        .into_iter()
        .map(|report| (report.id, serde_json::json!(report.state)))
        .collect();
    HttpResponse::Ok().json(Alive {
        status: AliveStatus::Ok,
        actors,
    })
}

/// Ready to take events
///
/// Ready when the store takes writes (its file is still the one opened,
/// its last commit succeeded, it answers) and no actor is between a stop
/// and its restart. A destination that is down (open circuit) does not
/// make the service unready: another replica could do no better. No
/// authentication.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready, with the reasons", body = Unready),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let board = &state.health;
    let mut reasons = Vec::new();
    if let Some(problem) = board.store_problem() {
        reasons.push(problem);
    } else {
        let pool = state.pool.clone();
        let answers = web::block(move || {
            use diesel::connection::SimpleConnection;
            pool.get()
                .ok()
                .is_some_and(|mut c| c.batch_execute("SELECT 1").is_ok())
        })
        .await
        .unwrap_or(false);
        if !answers {
            reasons.push("storage is unreachable".to_owned());
        }
    }
    for report in board.snapshot() {
        if report.state == ActorState::Restarting {
            reasons.push(format!("{} is restarting", report.id));
        }
    }
    if reasons.is_empty() {
        HttpResponse::Ok().json(Ready {
            status: ReadyStatus::Ready,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Unready {
            status: UnreadyStatus::Unready,
            reasons,
        })
    }
}

/// Prometheus metrics
///
/// Text format 0.0.4: events received, deliveries by outcome, retries,
/// restarts, queues, backlog, dead letters, circuits, replicas and latency
/// histograms. The journal's gauges are read at scrape time, on the read
/// routes' pool, by at most two scrapes at once (503 past that); when the
/// database does not answer they are left out rather than the scrape. No
/// authentication.
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "The metrics", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 503, response = Unavailable),
    )
)]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_ms();
    let lease_ms = state.journal.lease().as_millis() as i64;
    let reads = &state.reads;
    let permit = enter(&reads.metrics, 1).await?;
    let deadline = std::time::Instant::now() + reads.timeout;
    let gauges = on_metrics_reads(reads, permit, deadline, move |c| {
        let mut gauges = JournalGauges::default();
        for (subscriber, state, count) in deliveries::counts_by_state(c)? {
            if DeliveryState::UNFINISHED.contains(&state) {
                *gauges.backlog.entry(subscriber.clone()).or_default() += count;
            }
            if state == DeliveryState::Failed {
                *gauges.dead_letters.entry(subscriber).or_default() += count;
            }
        }
        for (subscriber, due) in deliveries::oldest_due(c, now)? {
            if let Some(due) = due {
                gauges
                    .oldest_due_age
                    .insert(subscriber, (now - due).max(0) as f64 / 1000.0);
            }
        }
        for replica in replicas::overview(c, now, lease_ms)? {
            if replica.live {
                gauges.replicas_live += 1;
            } else {
                gauges.replicas_missing += 1;
            }
        }
        Ok(gauges)
    })
    .await
    .unwrap_or_default();
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.encode(&gauges)))
}

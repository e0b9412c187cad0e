//! Operations endpoints, without authentication: `/healthz` (alive),
//! `/readyz` (able to work) and `/metrics` (Prometheus).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::pipeline::health::{ActorState, HealthBoard};
use crate::pipeline::metrics::Metrics;
use crate::store::DbPool;

/// Alive, with each actor's state (no counters, no errors: those are the
/// admin API's).
pub async fn healthz(board: web::Data<HealthBoard>) -> HttpResponse {
    let states: serde_json::Map<String, serde_json::Value> = board
        .snapshot()
        .into_iter()
        .map(|report| (report.id, json!(report.state)))
        .collect();
    HttpResponse::Ok().json(json!({ "status": "ok", "actors": states }))
}

/// Ready when storage answers and no enabled subscriber's actor is between
/// a stop and its restart. A destination that is down (open circuit) does
/// not make the service unready: another replica could do no better.
pub async fn readyz(board: web::Data<HealthBoard>, pool: web::Data<DbPool>) -> HttpResponse {
    let mut reasons = Vec::new();
    let pool = pool.clone();
    let storage = web::block(move || {
        use diesel::connection::SimpleConnection;
        pool.get()
            .ok()
            .is_some_and(|mut c| c.batch_execute("SELECT 1").is_ok())
    })
    .await
    .unwrap_or(false);
    if !storage {
        reasons.push("storage is unreachable".to_owned());
    }
    for report in board.snapshot() {
        if report.state == ActorState::Restarting {
            reasons.push(format!("{} is restarting", report.id));
        }
    }
    if reasons.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "unready", "reasons": reasons }))
    }
}

pub async fn metrics(
    metrics: web::Data<std::sync::Arc<Metrics>>,
) -> Result<HttpResponse, ApiError> {
    let text = metrics.encode().map_err(|_| ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

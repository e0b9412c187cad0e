//! The query routes: the deployment history dashboards read, and "what
//! happened to my event?". JSON, newest first, with cursor pagination.
//! Database work runs on the blocking pool, never on the HTTP workers.

use std::time::{Duration, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::enrichment::{EnrichmentSettings, enrich};
use crate::domain::event::{Event, EventKind, FieldError};
use crate::error::ApiError;
use crate::store::DbPool;
use crate::store::models::deliveries::{self, DeliveryRow, DeliveryState};
use crate::store::models::deployments::{self, DeploymentFilter, DeploymentRow};
use crate::store::models::events::{self, EventRow};

const DEFAULT_LIMIT: i64 = 50;
const MOST_PER_PAGE: i64 = 500;

/// Runs a query on the blocking pool with a pooled connection.
pub async fn query<T: Send + 'static>(
    pool: &web::Data<DbPool>,
    work: impl FnOnce(&mut crate::store::AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let pool = pool.clone();
    web::block(move || {
        let mut connection = pool.get().map_err(|error| {
            log::error!("query: no database connection: {error}");
            ApiError::StorageUnavailable
        })?;
        work(&mut connection).map_err(|error| {
            log::error!("query failed: {error}");
            ApiError::Internal
        })
    })
    .await
    .map_err(|_| ApiError::Internal)?
}

#[derive(Debug, Deserialize)]
pub struct DeploymentQuery {
    cluster: Option<String>,
    application: Option<String>,
    team: Option<String>,
    /// RFC 3339 time or Unix milliseconds.
    since: Option<String>,
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/v1/deployments?cluster=&application=&team=&since=&limit=&cursor=`
pub async fn deployments(
    pool: web::Data<DbPool>,
    params: web::Query<DeploymentQuery>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = parse_limit(params.limit.as_deref())?;
    let filter = DeploymentFilter {
        cluster: non_empty(params.cluster),
        application: non_empty(params.application),
        team: non_empty(params.team),
        since: params.since.as_deref().map(parse_time).transpose()?,
        before: non_empty(params.cursor),
        limit,
    };
    let rows = query(&pool, move |c| deployments::search(c, &filter)).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|row| row.id.clone()))
        .flatten();
    let items: Vec<Value> = rows.iter().map(deployment_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "deployments": items, "nextCursor": next_cursor })))
}

/// `GET /api/v1/deployments/{id}`
pub async fn deployment(
    pool: web::Data<DbPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = query(&pool, move |c| deployments::find(c, &id)).await?;
    let row = row.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(deployment_view(&row)))
}

/// `GET /api/v1/clusters/{cluster}/latest`: the latest deployment of each
/// application in the cluster.
pub async fn latest_in_cluster(
    pool: web::Data<DbPool>,
    cluster: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = cluster.into_inner();
    let name = cluster.clone();
    let rows = query(&pool, move |c| deployments::latest_in_cluster(c, &name)).await?;
    let items: Vec<Value> = rows.iter().map(deployment_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "cluster": cluster, "deployments": items })))
}

/// `GET /api/v1/events/{id}`: the event, enriched as subscribers saw it,
/// with each subscriber's delivery outcome.
pub async fn event(
    pool: web::Data<DbPool>,
    settings: web::Data<EnrichmentSettings>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = query(&pool, move |c| {
        let Some(event) = events::find(c, &id)? else {
            return Ok(None);
        };
        let deliveries = deliveries::for_event(c, &id)?;
        Ok(Some((event, deliveries)))
    })
    .await?;
    let (event, deliveries) = found.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(event_view(&event, &deliveries, &settings)))
}

/// One subscriber's part in an event, as the event routes show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub subscriber: String,
    pub state: DeliveryState,
    pub attempts: i32,
    /// What was done, or why it was skipped.
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    /// When a pending or retrying delivery is next tried.
    pub next_attempt_at: Option<String>,
    pub updated_at: Option<String>,
}

pub fn event_view(event: &EventRow, rows: &[DeliveryRow], settings: &EnrichmentSettings) -> Value {
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
            });
        }
    }
    views.sort_by(|a, b| a.subscriber.cmp(&b.subscriber));
    json!({
        "id": event.id,
        "kind": event.kind,
        "receivedAt": rfc3339(event.received_at),
        "event": enriched_body(event, settings),
        "deliveries": views,
    })
}

fn delivery_view(row: &DeliveryRow) -> DeliveryView {
    let state = DeliveryState::from_i16(row.state);
    DeliveryView {
        subscriber: row.subscriber.clone(),
        state,
        attempts: row.attempts,
        outcome: row.outcome.clone(),
        last_error: row.last_error.clone(),
        next_attempt_at: matches!(state, DeliveryState::Pending | DeliveryState::Retrying)
            .then(|| rfc3339(row.due_at)),
        updated_at: Some(rfc3339(row.updated_at)),
    }
}

/// The stored event as subscribers see it: deployments enriched again
/// (enrichment is deterministic for a given configuration).
fn enriched_body(event: &EventRow, settings: &EnrichmentSettings) -> Value {
    let Ok(body) = serde_json::from_str::<Value>(&event.body) else {
        return Value::Null;
    };
    if event.kind != EventKind::Deployment.as_str() {
        return body;
    }
    match Event::parse(EventKind::Deployment, body.clone()) {
        Ok(Event::Deployment(deployment)) => enrich(deployment, settings).to_json(),
        _ => body,
    }
}

fn deployment_view(row: &DeploymentRow) -> Value {
    json!({
        "id": row.id,
        "receivedAt": rfc3339(row.received_at),
        "deployment": serde_json::from_str::<Value>(&row.body).unwrap_or(Value::Null),
    })
}

pub fn rfc3339(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

fn parse_time(text: &str) -> Result<i64, ApiError> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_millis() as i64)
        .ok_or_else(|| {
            ApiError::InvalidQuery(FieldError::new(
                "since",
                "must be an RFC 3339 time (2026-11-25T10:00:00Z) or Unix milliseconds",
            ))
        })
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

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

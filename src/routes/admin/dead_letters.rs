//! Dead letters: `GET /admin/dead-letters`, and their replay, one
//! (`POST /admin/dead-letters/{id}/replay`) or a subscriber's
//! (`POST /admin/dead-letters/replay`).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::clock::rfc3339;
use crate::domain::event::{EventKind, FieldError};
use crate::error::ApiError;
use crate::routes::docs::answers::{
    AdminDisabled, Internal, InvalidQuery, NotFound, Unauthorized, Unavailable,
};
use crate::routes::page::{Listed, Page, next_cursor, parse_limit};
use crate::routes::params::{dead_letter_cursor, given};
use crate::routes::state::AppState;
use crate::routes::store::heavy_query;
use crate::store::models::deliveries::{self, ReplayTarget};
use crate::store::models::events;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Only this subscriber's.
    subscriber: Option<String>,
    /// Dead letters per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page (empty: the first page).
    #[param(pattern = "^(?:|[0-9]{1,18})$")]
    cursor: Option<String>,
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

impl Listed for DeadLetter {
    const FIELD: &'static str = "deadLetters";
    const PAGE: &'static str = "DeadLetterPage";
    const DESCRIPTION: &'static str = "A page of dead letters, newest first.";
}

/// A page of dead letters, newest first.
pub type DeadLetterPage = Page<DeadLetter>;

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
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = parse_limit(params.limit.as_deref())?;
    let before = given(params.cursor)
        .map(|cursor| dead_letter_cursor(&cursor))
        .transpose()?;
    let subscriber = given(params.subscriber);
    // A listing: behind the read routes' gate, like theirs.
    let (rows, found) = heavy_query(&state.reads, move |c| {
        let rows = deliveries::dead_letters(c, subscriber.as_deref(), before, limit)?;
        let event_ids: Vec<String> = rows.iter().map(|r| r.event_id.clone()).collect();
        let events = events::find_many(c, &event_ids)?;
        Ok((rows, events))
    })
    .await?;
    let kinds: HashMap<&str, &str> = found
        .iter()
        .map(|e| (e.id.as_str(), e.kind.as_str()))
        .collect();
    let items = rows
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
    Ok(HttpResponse::Ok().json(DeadLetterPage {
        items,
        next_cursor: next_cursor(&rows, limit, |r| r.id.to_string()),
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
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::UnknownId(format!("no dead letter has the id {id}"));
    let delivery: i64 = id.parse().map_err(|_| not_found())?;
    let replayed = state
        .journal
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
    #[param(required = true, min_length = 1)]
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
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let subscriber = given(params.into_inner().subscriber)
        .ok_or_else(|| ApiError::InvalidQuery(FieldError::new("subscriber", "is required")))?;
    if !state.health.is_subscriber(&subscriber) {
        return Err(ApiError::UnknownId(format!(
            "no subscriber has the id {subscriber}"
        )));
    }
    let replayed = state
        .journal
        .replay(ReplayTarget::Subscriber(subscriber.clone()))
        .await
        .map_err(ApiError::storage)?;
    log::info!("admin: {replayed} dead letters of {subscriber} replayed");
    Ok(HttpResponse::Ok().json(Replayed { replayed }))
}

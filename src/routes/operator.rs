//! The operator's routes under `/admin`: the configuration in force, its
//! reload, and silences (create, list, expire early). Admin token as the
//! rest of the admin API.

pub mod silence_request;

use std::collections::BTreeMap;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

pub use self::silence_request::NewSilence;
use super::admin::Admin;
use super::body::{MAX_ADMIN_BODY_BYTES, read_body};
use super::docs::answers::{
    AdminDisabled, AdminPayloadTooLarge, Conflict, Internal, InvalidConfig, InvalidQuery,
    LimitExceeded, NotFound, Unauthorized, Unavailable,
};
use super::state::AppState;
use super::store::{query, rfc3339};
use crate::config::file::ConfigSummary;
use crate::domain::event::FieldError;
use crate::domain::silence::MAX_ACTIVE_SILENCES;
use crate::error::ApiError;
use crate::pipeline::ReloadError;
use crate::pipeline::messages::{ApplySilences, ReloadReport};
use crate::pipeline::registry::RegistryActor;
use crate::pipeline::routing::current;
use crate::store::DbPool;
use crate::store::models::silences::{self, SilenceRow};

/// Silences listed at most.
const MOST_SILENCES_LISTED: i64 = 200;

/// The configuration in force
///
/// Routes, templates replaced, webhooks and the file's settings; secrets
/// only by the variable that holds them.
#[utoipa::path(
    get,
    path = "/admin/config",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The configuration in force", body = ConfigSummary),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
    )
)]
pub async fn config(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(current(&state.routing).operator.summary())
}

/// Reload the configuration file
///
/// Reads `ALVARES_CONFIG` again (as SIGHUP does). A file that does not
/// validate is refused and the configuration in force stays; the answer
/// names the error and its line.
#[utoipa::path(
    post,
    path = "/admin/reload",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "What the reload put in force", body = ReloadReport),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 409, response = Conflict),
        (status = 422, response = InvalidConfig),
        (status = 503, response = Unavailable),
    )
)]
pub async fn reload(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = state.reloader.reload().await.map_err(|error| match error {
        ReloadError::NoFile => {
            log::warn!("admin: reload refused: {error}");
            ApiError::Conflict(error.to_string())
        }
        ReloadError::Invalid(error) => {
            log::warn!("admin: reload refused: {error}");
            ApiError::InvalidConfig {
                line: error.line,
                message: error.to_string(),
            }
        }
        // Logged with its cause where it is answered.
        other => ApiError::unavailable(other),
    })?;
    log::info!("admin: configuration reloaded through the admin API");
    Ok(HttpResponse::Ok().json(report))
}

/// A silence as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SilenceView {
    pub id: String,
    /// Field → patterns (exact or glob); `kind` and `subscriber` too.
    pub matchers: BTreeMap<String, Vec<String>>,
    #[schema(format = DateTime)]
    pub starts_at: String,
    #[schema(format = DateTime)]
    pub ends_at: String,
    pub comment: String,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `pending` (not started), `active` or `ended`.
    pub state: SilenceState,
    /// Who ended it early, if someone did.
    pub expired_by: Option<String>,
    /// Deliveries it skipped.
    pub silenced: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Ended,
}

fn silence_view(row: &SilenceRow, now: i64) -> SilenceView {
    SilenceView {
        id: row.id.clone(),
        matchers: serde_json::from_str(&row.matchers).unwrap_or_default(),
        starts_at: rfc3339(row.starts_at),
        ends_at: rfc3339(row.ends_at),
        comment: row.comment.clone(),
        created_by: row.created_by.clone(),
        created_at: rfc3339(row.created_at),
        state: if now < row.starts_at {
            SilenceState::Pending
        } else if now < row.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Ended
        },
        expired_by: row.expired_by.clone(),
        silenced: row.silenced,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SilenceList {
    /// The latest silences, newest first (ended ones too, until pruned).
    pub silences: Vec<SilenceView>,
}

/// Silences
#[utoipa::path(
    get,
    path = "/admin/silences",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The latest silences", body = SilenceList),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list_silences(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = query(&state.pool, |c| silences::recent(c, MOST_SILENCES_LISTED)).await?;
    let now = state.clock.now_ms();
    Ok(HttpResponse::Ok().json(SilenceList {
        silences: rows.iter().map(|row| silence_view(row, now)).collect(),
    }))
}

/// Create a silence
///
/// Matching deliveries of events that arrive between its start and end
/// are skipped ("silenced by <id>") on every replica. A body that does not
/// fit the schema is a 400 naming the field; too many patterns, or too
/// many silences not yet ended, a 422; a period already over (or ending
/// before it starts) or longer than 90 days a 409.
#[utoipa::path(
    post,
    path = "/admin/silences",
    request_body(content = NewSilence, content_type = "application/json"),
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "The silence", body = SilenceView),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 409, response = Conflict),
        (status = 413, response = AdminPayloadTooLarge),
        (status = 422, response = LimitExceeded),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create_silence(
    _: Admin,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&request, payload, MAX_ADMIN_BODY_BYTES).await?;
    let now = state.clock.now_ms();
    let new = silence_request::read(&body, now)?;
    let row = SilenceRow {
        id: uuid::Uuid::now_v7().to_string(),
        matchers: serde_json::to_string(&new.matchers).map_err(ApiError::internal)?,
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        comment: new.comment,
        created_by: new.created_by,
        created_at: now,
        expired_by: None,
        silenced: 0,
    };
    // Counted before saving: two admins creating the last ones at once may
    // pass it by one each, which the bound tolerates.
    let not_ended = query(&state.pool, move |c| silences::count_not_ended(c, now)).await?;
    if not_ended >= MAX_ACTIVE_SILENCES as i64 {
        return Err(ApiError::LimitExceeded(FieldError::new(
            "",
            format!(
                "at most {MAX_ACTIVE_SILENCES} silences may be pending or active at once; end one first"
            ),
        )));
    }
    state
        .journal
        .save_silence(row.clone())
        .await
        .map_err(ApiError::storage)?;
    log::info!(
        "admin: silence {} by {} until {}: {}",
        row.id,
        row.created_by,
        rfc3339(row.ends_at),
        row.comment
    );
    refresh(&state.pool, &state.registry, now).await?;
    Ok(HttpResponse::Created().json(silence_view(&row, now)))
}

/// End a silence now
#[utoipa::path(
    delete,
    path = "/admin/silences/{id}",
    params(("id" = String, Path, description = "The silence's id")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The silence, ended", body = SilenceView),
        (status = 401, response = Unauthorized),
        (status = 403, response = AdminDisabled),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn expire_silence(
    _: Admin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let ended = state
        .journal
        .expire_silence(id.clone(), "admin API".into())
        .await
        .map_err(ApiError::storage)?;
    let now = state.clock.now_ms();
    let lookup = id.clone();
    let row = query(&state.pool, move |c| silences::find(c, &lookup))
        .await?
        .ok_or_else(|| ApiError::UnknownId(format!("no silence has the id {id}")))?;
    if ended {
        log::info!("admin: silence {id} ended early through the admin API");
        refresh(&state.pool, &state.registry, now).await?;
    }
    Ok(HttpResponse::Ok().json(silence_view(&row, now)))
}

/// Hands the stored silences to the registry at once (the coordinator
/// does it every second too, for the other replicas).
async fn refresh(pool: &DbPool, registry: &Addr<RegistryActor>, now: i64) -> Result<(), ApiError> {
    let as_of = std::time::Instant::now();
    let rows = query(pool, move |c| silences::not_ended(c, now)).await?;
    registry
        .send(ApplySilences {
            silences: rows,
            as_of,
        })
        .await
        .map_err(ApiError::unavailable)
}

//! A subscriber's on/off switch: `PUT /admin/subscribers/{id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::Admin;
use super::actors::JournalCounts;
use crate::domain::event::FieldError;
use crate::engine::ActorReport;
use crate::error::ApiError;
use crate::pipeline::messages::{SetEnabled, SwitchError};
use crate::routes::body::{MAX_ADMIN_BODY_BYTES, read_body};
use crate::routes::docs::answers::{
    AdminDisabled, AdminPayloadTooLarge, Internal, InvalidQuery, NotFound, Unauthorized,
    Unavailable,
};
use crate::routes::state::AppState;

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
        (status = 200, description = "The subscriber as it is now", body = ActorReport),
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
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !state.health.is_subscriber(&id) {
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
    state
        .registry
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
    let counts = JournalCounts::read(&state.pool).await?;
    let report = state
        .health
        .report(&id)
        .ok_or_else(|| ApiError::internal("a switched subscriber has no health report"))?;
    Ok(HttpResponse::Ok().json(counts.add_to(report)))
}

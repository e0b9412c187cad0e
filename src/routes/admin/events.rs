//! Recent events, each with every subscriber's outcome:
//! `GET /admin/events`.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::Admin;
use crate::domain::event::EventKind;
use crate::error::ApiError;
use crate::routes::docs::answers::{
    AdminDisabled, Internal, InvalidQuery, Unauthorized, Unavailable,
};
use crate::routes::page::{Listed, Page, next_cursor, parse_limit};
use crate::routes::params::{filter, one_of};
use crate::routes::state::AppState;
use crate::routes::store::{EventView, event_view, heavy_query};
use crate::store::models::deliveries;
use crate::store::models::events::{self, EventFilter};

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

impl Listed for EventView {
    const FIELD: &'static str = "events";
    const PAGE: &'static str = "EventPage";
    const DESCRIPTION: &'static str = "A page of recent events, newest first.";
}

/// A page of recent events, newest first.
pub type EventPage = Page<EventView>;

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
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let kinds = EventKind::ALL.map(EventKind::as_str);
    let kind = match params.kind.as_deref() {
        None => None,
        Some(text) => Some(one_of("kind", text, &kinds)?.to_owned()),
    };
    let filter = EventFilter {
        kind,
        application: filter(params.application),
        cluster: filter(params.cluster),
        before: filter(params.cursor),
        limit: parse_limit(params.limit.as_deref())?,
    };
    let limit = filter.limit;
    // A listing: behind the read routes' gate, like theirs.
    let (found, outcomes) = heavy_query(&state.reads, move |c| {
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
    let items = found
        .iter()
        .map(|event| {
            let rows = by_event
                .get(event.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            event_view(event, rows)
        })
        .collect();
    Ok(HttpResponse::Ok().json(EventPage {
        items,
        next_cursor: next_cursor(&found, limit, |e| e.id.clone()),
    }))
}

//! What the routes share, in one place: the application builds one
//! [`AppState`] and every handler takes it (`web::Data<AppState>`), so each
//! shared part has one owner and no handler can ask for a part that was
//! never mounted.

use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpRequest, web};

use super::admin::AdminAccess;
use super::intake::IntakeRoute;
use super::read_access::ReadAccess;
use crate::clock::SharedClock;
use crate::config::InsightsConfig;
use crate::error::ApiError;
use crate::pipeline::Reloader;
use crate::pipeline::health::HealthBoard;
use crate::pipeline::metrics::Metrics;
use crate::pipeline::registry::RegistryActor;
use crate::pipeline::routing::Routing;
use crate::store::DbPool;
use crate::store::journal::Journal;
use crate::store::reads::ReadRoutes;

pub struct AppState {
    pub intake: IntakeRoute,
    /// Every actor's health.
    pub health: HealthBoard,
    /// Connections for deliveries and small lookups.
    pub pool: DbPool,
    /// The read routes' own pool and gates.
    pub reads: ReadRoutes,
    pub read_access: ReadAccess,
    pub admin: AdminAccess,
    pub journal: Journal,
    /// Owns the subscribers' switches and the silences in force.
    pub registry: Addr<RegistryActor>,
    /// The routing table in force (the operator's configuration with it).
    pub routing: Routing,
    pub reloader: Reloader,
    pub metrics: Arc<Metrics>,
    pub clock: SharedClock,
    pub insights: InsightsConfig,
    /// Insights answers kept for `INSIGHTS_CACHE_SECONDS`.
    pub insights_cache: super::insights::AnswerCache,
}

impl AppState {
    /// The state a request's application was built with (for extractors).
    pub fn of(request: &HttpRequest) -> Result<&AppState, ApiError> {
        match request.app_data::<web::Data<AppState>>() {
            Some(state) => Ok(state.get_ref()),
            // Mounted without its state: refuse rather than guess (logged
            // with its cause where it is answered).
            None => Err(ApiError::internal(format!(
                "no application state for {}",
                request.path()
            ))),
        }
    }
}

//! What the routes share, in one place: the application builds one
//! [`AppState`] and every handler takes it (`web::Data<AppState>`), so each
//! shared part has one owner and no handler can ask for a part that was
//! never mounted.

use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpRequest, web};

use crate::clock::SharedClock;
use crate::config::{InsightsConfig, Secret};
use crate::domain::bounds::EventBounds;
use crate::error::ApiError;
use crate::pipeline::Reloader;
use crate::pipeline::health::HealthBoard;
use crate::pipeline::intake::IntakeActor;
use crate::pipeline::metrics::Metrics;
use crate::pipeline::registry::RegistryActor;
use crate::pipeline::routing::Routing;
use crate::store::DbPool;
use crate::store::journal::Journal;
use crate::store::reads::ReadRoutes;

// The parts' types live here, and the routes that read them import this
// file (never the other way): no file imports one that imports it back.

/// What the intake route needs from the application.
pub struct IntakeRoute {
    pub intake: Addr<IntakeActor>,
    pub token: Option<Secret<String>>,
    pub max_body_bytes: usize,
    /// A body not fully arrived after this is answered 408.
    pub body_timeout: std::time::Duration,
    /// How much one event may hold (`MAX_CHANNELS_PER_EVENT` and the
    /// fields' lengths).
    pub bounds: EventBounds,
    pub metrics: std::sync::Arc<Metrics>,
}

/// The tokens that open the read API; none set: it is open.
pub struct ReadAccess {
    pub read: Option<Secret<String>>,
    pub admin: Option<Secret<String>>,
}

/// The admin token, when the admin API is on.
pub struct AdminAccess(pub Option<Secret<String>>);

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
    pub insights_cache: super::insights_cache::AnswerCache,
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

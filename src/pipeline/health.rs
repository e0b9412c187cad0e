//! Every actor's health in one place, in pipeline order, as the health,
//! admin and metrics routes read it. A subscriber's availability (switched
//! on, off, unconfigured) is read from the routing table, its one owner.

use std::sync::Arc;

use super::routing::{Routing, current};
use crate::engine::{ActorHealth, ActorReport, Availability, Role};
use crate::store::status::StoreStatus;

#[derive(Clone)]
pub struct HealthBoard {
    /// The core actors, in pipeline order.
    core: Vec<Arc<ActorHealth>>,
    /// After the subscribers (the alerts and digest actors).
    extra: Vec<Arc<ActorHealth>>,
    /// The subscribers' healths are their routes' (a reload adds some).
    routing: Routing,
    store: Arc<StoreStatus>,
}

impl HealthBoard {
    pub fn new(
        core: Vec<Arc<ActorHealth>>,
        extra: Vec<Arc<ActorHealth>>,
        routing: Routing,
        store: Arc<StoreStatus>,
    ) -> Self {
        HealthBoard {
            core,
            extra,
            routing,
            store,
        }
    }

    /// Every actor: core ones, subscribers, then the rest.
    pub fn actors(&self) -> Vec<Arc<ActorHealth>> {
        let table = current(&self.routing);
        self.core
            .iter()
            .cloned()
            .chain(table.routes.iter().map(|route| route.health.clone()))
            .chain(self.extra.iter().cloned())
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<ActorHealth>> {
        self.actors().into_iter().find(|a| a.id == id)
    }

    pub fn is_subscriber(&self, id: &str) -> bool {
        self.get(id).is_some_and(|a| a.role == Role::Subscriber)
    }

    fn availability(&self, health: &ActorHealth) -> Availability {
        match health.role {
            Role::Subscriber => current(&self.routing).availability(&health.id),
            _ => Availability::Active,
        }
    }

    pub fn report(&self, id: &str) -> Option<ActorReport> {
        self.get(id)
            .map(|health| health.snapshot(self.availability(&health)))
    }

    pub fn snapshot(&self) -> Vec<ActorReport> {
        let table = current(&self.routing);
        self.actors()
            .iter()
            .map(|health| {
                let availability = match health.role {
                    Role::Subscriber => table.availability(&health.id),
                    _ => Availability::Active,
                };
                health.snapshot(availability)
            })
            .collect()
    }

    /// Why the store cannot take writes now, if it cannot.
    pub fn store_problem(&self) -> Option<String> {
        self.store.problem()
    }
}

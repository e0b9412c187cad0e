//! The enricher actor: completes deployments (URLs, friendly name, team;
//! BEHAVIOUR §2) and publishes every event to the registry.

use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler};

use super::health::ActorHealth;
use super::messages::{Enrich, Publish, PublishedEvent};
use super::registry::RegistryActor;
use crate::domain::enrichment::{EnrichmentSettings, enrich};
use crate::domain::event::Event;

const MAILBOX_CAPACITY: usize = 65_536;

pub struct EnricherActor {
    settings: EnrichmentSettings,
    registry: Addr<RegistryActor>,
    health: Arc<ActorHealth>,
}

impl EnricherActor {
    pub fn new(
        settings: EnrichmentSettings,
        registry: Addr<RegistryActor>,
        health: Arc<ActorHealth>,
    ) -> Self {
        EnricherActor {
            settings,
            registry,
            health,
        }
    }
}

impl Actor for EnricherActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Enrich> for EnricherActor {
    type Result = ();

    fn handle(&mut self, message: Enrich, _ctx: &mut Self::Context) {
        ActorHealth::count(&self.health.received);
        let Enrich(accepted) = message;
        let event = match accepted.event {
            Event::Deployment(deployment) => Event::Deployment(enrich(deployment, &self.settings)),
            other => other,
        };
        let id = accepted.id;
        let published = Arc::new(PublishedEvent { id, event });
        if self.registry.try_send(Publish(published)).is_err() {
            ActorHealth::count(&self.health.dropped);
            self.health
                .record_error(format!("event {id}: dropped, the registry's queue is full"));
            log::error!("event {id}: dropped, the registry's queue is full");
            return;
        }
        ActorHealth::count(&self.health.delivered);
    }
}

//! The enricher actor: completes deployments (URLs, friendly name, team;
//! BEHAVIOUR §2) and publishes every event to the registry with the
//! deliveries this process holds for it.

use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler};

use super::Handback;
use super::health::ActorHealth;
use super::messages::{Enrich, Publish, PublishedEvent};
use super::registry::RegistryActor;
use crate::domain::enrichment::{EnrichmentSettings, enrich};
use crate::domain::event::Event;

/// Each message holds at least one subscriber slot, so the slots bound this
/// queue well below its capacity.
const MAILBOX_CAPACITY: usize = 65_536;

pub struct EnricherActor {
    settings: EnrichmentSettings,
    registry: Addr<RegistryActor>,
    handback: Handback,
    health: Arc<ActorHealth>,
}

impl EnricherActor {
    pub fn new(
        settings: EnrichmentSettings,
        registry: Addr<RegistryActor>,
        handback: Handback,
        health: Arc<ActorHealth>,
    ) -> Self {
        EnricherActor {
            settings,
            registry,
            handback,
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
        let Enrich(recorded) = message;
        let event = match recorded.event {
            Event::Deployment(deployment) => Event::Deployment(enrich(deployment, &self.settings)),
            other => other,
        };
        let id = recorded.id;
        let published = Publish {
            event: Arc::new(PublishedEvent {
                id,
                received_at: recorded.received_at,
                event,
            }),
            tickets: recorded.tickets,
        };
        if let Err(error) = self.registry.try_send(published) {
            let published = error.into_inner();
            ActorHealth::count(&self.health.dropped);
            log::warn!("event {id}: the registry is busy; the sweeper will deliver it");
            self.handback.give_back(&published.tickets);
            return;
        }
        ActorHealth::count(&self.health.delivered);
    }
}

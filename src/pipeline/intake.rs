//! The intake actor: gives each validated event its id, records it, and
//! hands it to the enricher. Its answer is what the HTTP route turns into
//! `202 Accepted`.

use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler};

use super::enricher::EnricherActor;
use super::health::ActorHealth;
use super::messages::{Accept, AcceptedEvent, Enrich, EventId, IntakeError};

/// Requests waiting for the intake actor before senders must wait.
const MAILBOX_CAPACITY: usize = 4096;

pub struct IntakeActor {
    enricher: Addr<EnricherActor>,
    health: Arc<ActorHealth>,
}

impl IntakeActor {
    pub fn new(enricher: Addr<EnricherActor>, health: Arc<ActorHealth>) -> Self {
        IntakeActor { enricher, health }
    }

    /// The recording step. Today the event lives in memory from here on;
    /// the durable journal takes this place, so that the answer comes only
    /// after the event is committed.
    fn record(&self, event: &AcceptedEvent) -> Result<(), IntakeError> {
        log::debug!(
            "event {}: accepted {}",
            event.id,
            event.event.kind().as_str()
        );
        Ok(())
    }
}

impl Actor for IntakeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Accept> for IntakeActor {
    type Result = Result<EventId, IntakeError>;

    fn handle(&mut self, message: Accept, _ctx: &mut Self::Context) -> Self::Result {
        ActorHealth::count(&self.health.received);
        let accepted = AcceptedEvent {
            id: EventId::new(),
            event: message.0,
        };
        self.record(&accepted)?;
        let id = accepted.id;
        // try_send: a full enricher is refused now (503) rather than queued
        // without bound.
        if self.enricher.try_send(Enrich(accepted)).is_err() {
            ActorHealth::count(&self.health.dropped);
            self.health
                .record_error(format!("event {id}: refused, the enricher's queue is full"));
            log::warn!("event {id}: refused, the enricher's queue is full");
            return Err(IntakeError::Overloaded);
        }
        ActorHealth::count(&self.health.delivered);
        Ok(id)
    }
}

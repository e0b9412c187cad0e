//! The intake actor: the HTTP routes hand it each validated event. It gives
//! the event its id and the time it was accepted, and asks the enricher to
//! enrich, record and publish it; its answer (once the event is durable)
//! becomes the route's 202.

use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler, ResponseFuture, Supervised};

use super::enricher::EnricherActor;
use super::messages::{Accept, Accepted, IntakeError, Quiesce, Record};
use crate::clock::SharedClock;
use crate::domain::EventId;
use crate::engine::ActorHealth;
use crate::engine::guard::guarded;

/// Requests waiting for the intake actor before senders must wait.
const MAILBOX_CAPACITY: usize = 4096;

pub struct IntakeActor {
    enricher: Addr<EnricherActor>,
    clock: SharedClock,
    health: Arc<ActorHealth>,
    /// Shutting down: every request is refused (503).
    quiet: bool,
}

impl IntakeActor {
    pub fn new(
        enricher: Addr<EnricherActor>,
        clock: SharedClock,
        health: Arc<ActorHealth>,
    ) -> Self {
        IntakeActor {
            enricher,
            clock,
            health,
            quiet: false,
        }
    }

    fn accept(&mut self, message: Accept) -> ResponseFuture<Result<Accepted, IntakeError>> {
        fail::fail_point!("intake-handle");
        ActorHealth::count(&self.health.received);
        if self.quiet {
            return Box::pin(async { Err(IntakeError::ShuttingDown) });
        }
        let record = Record {
            id: EventId::new(),
            received_at: self.clock.now_ms(),
            event: message.event,
            idempotency: message.idempotency,
            request_id: message.request_id,
        };
        let answer = self.enricher.send(record);
        let health = self.health.clone();
        Box::pin(async move {
            let answer = answer
                .await
                .unwrap_or(Err(IntakeError::Restarting("the enricher")));
            match &answer {
                Ok(_) => ActorHealth::count(&health.delivered),
                Err(_) => ActorHealth::count(&health.failed),
            }
            answer
        })
    }
}

impl Actor for IntakeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.health.set_restarting(false);
    }
}

impl Supervised for IntakeActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("intake: restarted by its supervisor");
    }
}

impl Handler<Accept> for IntakeActor {
    type Result = ResponseFuture<Result<Accepted, IntakeError>>;

    fn handle(&mut self, message: Accept, ctx: &mut Self::Context) -> Self::Result {
        let health = self.health.clone();
        guarded(&health, ctx, |_| self.accept(message))
            .unwrap_or_else(|| Box::pin(async { Err(IntakeError::Restarting("intake")) }))
    }
}

impl Handler<Quiesce> for IntakeActor {
    type Result = ();

    fn handle(&mut self, _: Quiesce, _ctx: &mut Self::Context) {
        self.quiet = true;
    }
}

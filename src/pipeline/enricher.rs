//! The enricher actor: completes deployments (URLs, friendly name, team;
//! BEHAVIOUR §2), plans each event's deliveries from the routing table,
//! records the enriched event in the journal — what is stored is exactly
//! what subscribers will see — answers intake once that is committed, and
//! publishes the event to the registry with the deliveries this process
//! holds.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler, ResponseFuture, Supervised};
use serde_json::Value;

use super::Handback;
use super::messages::{Accepted, IntakeError, Publish, Quiesce, Record};
use super::registry::RegistryActor;
use super::routing::{Routing, current};
use crate::domain::{EnrichedEvent, EnrichmentSettings, PublishedEvent};
use crate::engine::ActorHealth;
use crate::engine::guard::guarded;
use crate::logging::LogContext;
use crate::store::journal::{Append, AppendOutcome, Journal, JournalError};
use crate::store::models::events::NewEvent;

/// Each waiting event holds an intake request open, and intake's mailbox
/// bounds those.
const MAILBOX_CAPACITY: usize = 65_536;
/// The pipeline's client gives up after 5 s; answer before it does.
const RECORD_TIMEOUT: Duration = Duration::from_secs(4);

pub struct EnricherActor {
    settings: EnrichmentSettings,
    routing: Routing,
    journal: Journal,
    registry: Addr<RegistryActor>,
    handback: Handback,
    health: Arc<ActorHealth>,
    quiet: bool,
}

impl EnricherActor {
    pub fn new(
        settings: EnrichmentSettings,
        routing: Routing,
        journal: Journal,
        registry: Addr<RegistryActor>,
        handback: Handback,
        health: Arc<ActorHealth>,
    ) -> Self {
        EnricherActor {
            settings,
            routing,
            journal,
            registry,
            handback,
            health,
            quiet: false,
        }
    }

    fn record(&mut self, message: Record) -> ResponseFuture<Result<Accepted, IntakeError>> {
        fail::fail_point!("enricher-handle");
        ActorHealth::count(&self.health.received);
        if self.quiet {
            return Box::pin(async { Err(IntakeError::ShuttingDown) });
        }
        let Record {
            id,
            received_at,
            event,
            idempotency,
            request_id,
        } = message;
        let context = LogContext {
            request_id,
            event_id: Some(id.to_string()),
            subscriber: None,
        };
        // The event's JSON is made here, once: stored, planned from, and
        // shared by every subscriber.
        let published = PublishedEvent::new(
            id,
            received_at,
            EnrichedEvent::enrich(event, &self.settings),
        );
        let kind = published.kind();
        let plan = current(&self.routing).plan(&published);
        let (application, cluster) = published.event.attribution();
        let append = Append {
            event: NewEvent {
                id: id.to_string(),
                kind: kind.as_str().to_owned(),
                received_at,
                body: published.json.to_string(),
                skipped: Value::Object(plan.skipped).to_string(),
                idempotency_key: idempotency.as_ref().map(|k| k.key.clone()),
                body_hash: idempotency.map(|k| k.body_hash),
                application,
                cluster,
            },
            deliveries: plan.deliveries,
            once: plan.once,
            silenced_by: plan.silenced_by,
        };
        let pushed_slots: Vec<&'static str> = append
            .deliveries
            .iter()
            .filter(|p| p.push)
            .map(|p| p.subscriber)
            .collect();
        let journal = self.journal.clone();
        let registry = self.registry.clone();
        let handback = self.handback.clone();
        let health = self.health.clone();
        Box::pin(context.scope(async move {
            let recorded = actix_rt::time::timeout(RECORD_TIMEOUT, journal.append(append)).await;
            let free_slots = || pushed_slots.iter().for_each(|s| handback.free_slot(s));
            let outcome = match recorded {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(error)) => {
                    free_slots();
                    ActorHealth::count(&health.failed);
                    // The answer's error is logged where it is answered.
                    health.record_error(format!("event {id}: not recorded: {error}"));
                    return Err(match error {
                        JournalError::Full => IntakeError::Overloaded,
                        other => IntakeError::Storage(other),
                    });
                }
                Err(_) => {
                    // If the commit still lands, the writer gives the leased
                    // deliveries back itself (nobody awaits its answer).
                    free_slots();
                    ActorHealth::count(&health.failed);
                    health.record_error(format!("event {id}: recording timed out"));
                    return Err(IntakeError::RecordTimeout(RECORD_TIMEOUT));
                }
            };
            match outcome {
                AppendOutcome::Recorded { pushed, dropped } => {
                    ActorHealth::count(&health.delivered);
                    // A duplicate under `once_per` was planned but not made.
                    for subscriber in dropped {
                        if pushed_slots.contains(&subscriber) {
                            handback.free_slot(subscriber);
                        }
                    }
                    log::debug!("event {id}: recorded {}", published.kind());
                    if !pushed.is_empty() {
                        let publish = Publish {
                            event: Arc::new(published),
                            tickets: pushed,
                        };
                        if let Err(error) = registry.try_send(publish) {
                            let publish = error.into_inner();
                            log::warn!(
                                "event {id}: the registry is busy; the sweeper will deliver it"
                            );
                            handback.give_back(&publish.tickets);
                        }
                    }
                    Ok(Accepted {
                        id: id.to_string(),
                        repeated: false,
                    })
                }
                AppendOutcome::Duplicate { original_id } => {
                    free_slots();
                    log::info!(
                        "event {original_id}: repeated with the same Idempotency-Key; not delivered again"
                    );
                    Ok(Accepted {
                        id: original_id,
                        repeated: true,
                    })
                }
                AppendOutcome::KeyReused => {
                    free_slots();
                    Err(IntakeError::KeyReused)
                }
            }
        }))
    }
}

impl Actor for EnricherActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.health.set_restarting(false);
    }
}

impl Supervised for EnricherActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("enricher: restarted by its supervisor");
    }
}

impl Handler<Record> for EnricherActor {
    type Result = ResponseFuture<Result<Accepted, IntakeError>>;

    fn handle(&mut self, message: Record, ctx: &mut Self::Context) -> Self::Result {
        let health = self.health.clone();
        guarded(&health, ctx, |_| self.record(message))
            .unwrap_or_else(|| Box::pin(async { Err(IntakeError::Restarting("the enricher")) }))
    }
}

impl Handler<Quiesce> for EnricherActor {
    type Result = ();

    fn handle(&mut self, _: Quiesce, _ctx: &mut Self::Context) {
        self.quiet = true;
    }
}

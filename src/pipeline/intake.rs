//! The intake actor: gives each validated event its id, records it in the
//! journal (with one delivery per enabled subscriber of its kind) and
//! answers only once that is committed. Deliveries that fit in their
//! subscriber's free slots are leased to this process in the same commit and
//! handed to the enricher straight away; the rest wait for the sweeper.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler, ResponseFuture};

use super::Handback;
use super::enricher::EnricherActor;
use super::health::{ActorHealth, now_ms};
use super::messages::{Accept, Accepted, Enrich, EventId, IntakeError, RecordedEvent};
use super::ownership::Ownership;
use super::registry::{Target, TargetStatus, TargetsChanged};
use crate::store::journal::{Append, AppendOutcome, Journal, JournalError, PlannedDelivery};
use crate::store::models::events::NewEvent;

/// Requests waiting for the intake actor before senders must wait.
const MAILBOX_CAPACITY: usize = 4096;
/// The pipeline's client gives up after 5 s; answer before it does.
const RECORD_TIMEOUT: Duration = Duration::from_secs(4);

pub struct IntakeActor {
    journal: Journal,
    enricher: Addr<EnricherActor>,
    handback: Handback,
    targets: Vec<Target>,
    ownership: Arc<Ownership>,
    health: Arc<ActorHealth>,
}

impl IntakeActor {
    pub fn new(
        journal: Journal,
        enricher: Addr<EnricherActor>,
        handback: Handback,
        targets: Vec<Target>,
        ownership: Arc<Ownership>,
        health: Arc<ActorHealth>,
    ) -> Self {
        IntakeActor {
            journal,
            enricher,
            handback,
            targets,
            ownership,
            health,
        }
    }

    /// Which subscribers get the event, and why the others skip it.
    fn plan(
        &self,
        message: &Accept,
    ) -> (
        Vec<PlannedDelivery>,
        serde_json::Map<String, serde_json::Value>,
    ) {
        let kind = message.event.kind();
        let mut planned = Vec::new();
        let mut skipped = serde_json::Map::new();
        for target in self.targets.iter().filter(|t| t.kinds.contains(&kind)) {
            match target.status {
                TargetStatus::Unconfigured => {
                    ActorHealth::count(&target.health.skipped);
                    skipped.insert(target.id.into(), "not configured".into());
                }
                TargetStatus::Disabled => {
                    ActorHealth::count(&target.health.skipped);
                    skipped.insert(target.id.into(), "disabled".into());
                }
                // Pushed to this replica's subscriber when it owns it and
                // has a free slot; otherwise the owner's sweeper takes it.
                TargetStatus::Enabled => planned.push(PlannedDelivery {
                    subscriber: target.id,
                    push: self.ownership.owns(target.id) && target.slots.try_take(),
                }),
            }
        }
        (planned, skipped)
    }
}

impl Actor for IntakeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Accept> for IntakeActor {
    type Result = ResponseFuture<Result<Accepted, IntakeError>>;

    fn handle(&mut self, message: Accept, _ctx: &mut Self::Context) -> Self::Result {
        ActorHealth::count(&self.health.received);
        let id = EventId::new();
        let received_at = now_ms();
        let (planned, skipped) = self.plan(&message);
        let pushed_slots: Vec<&'static str> = planned
            .iter()
            .filter(|p| p.push)
            .map(|p| p.subscriber)
            .collect();
        let deployment = match &message.event {
            crate::domain::event::Event::Deployment(deployment) => Some(deployment),
            _ => None,
        };
        let append = Append {
            event: NewEvent {
                id: id.to_string(),
                kind: message.event.kind().as_str().to_owned(),
                received_at,
                body: message.event.to_json().to_string(),
                skipped: serde_json::Value::Object(skipped).to_string(),
                idempotency_key: message.idempotency.as_ref().map(|k| k.key.clone()),
                body_hash: message.idempotency.as_ref().map(|k| k.body_hash.clone()),
                application: deployment.map(|d| d.application_name.clone()),
                cluster: deployment.map(|d| d.cluster.clone()),
            },
            deliveries: planned,
        };
        let journal = self.journal.clone();
        let enricher = self.enricher.clone();
        let handback = self.handback.clone();
        let health = self.health.clone();
        let event = message.event;
        Box::pin(async move {
            let recorded = actix_rt::time::timeout(RECORD_TIMEOUT, journal.append(append)).await;
            let free_slots = || pushed_slots.iter().for_each(|s| handback.free_slot(s));
            let outcome = match recorded {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(error)) => {
                    free_slots();
                    ActorHealth::count(&health.failed);
                    health.record_error(format!("event {id}: not recorded: {error}"));
                    log::error!("event {id}: not recorded: {error}");
                    return Err(match error {
                        JournalError::Full => IntakeError::Overloaded,
                        other => IntakeError::Storage(other.to_string()),
                    });
                }
                Err(_) => {
                    // If the commit still lands, the writer gives the leased
                    // deliveries back itself (nobody awaits its answer).
                    free_slots();
                    ActorHealth::count(&health.failed);
                    health.record_error(format!("event {id}: recording timed out"));
                    log::error!("event {id}: recording took longer than {RECORD_TIMEOUT:?}");
                    return Err(IntakeError::Storage("recording timed out".into()));
                }
            };
            match outcome {
                AppendOutcome::Recorded { pushed } => {
                    ActorHealth::count(&health.delivered);
                    log::debug!("event {id}: recorded {}", event.kind().as_str());
                    if !pushed.is_empty() {
                        let recorded = RecordedEvent {
                            id,
                            received_at,
                            event,
                            tickets: pushed,
                        };
                        if let Err(error) = enricher.try_send(Enrich(recorded)) {
                            let Enrich(recorded) = error.into_inner();
                            log::warn!(
                                "event {id}: the enricher is busy; the sweeper will deliver it"
                            );
                            handback.give_back(&recorded.tickets);
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
        })
    }
}

impl Handler<TargetsChanged> for IntakeActor {
    type Result = ();

    fn handle(&mut self, message: TargetsChanged, _ctx: &mut Self::Context) {
        self.targets = message.0;
    }
}

//! The sweeper: every [`SWEEP_EVERY`] it claims due deliveries from the
//! journal — retries whose wait is over, work a crashed process left behind
//! (its lease ran out), and the backlog that did not fit in a subscriber's
//! slots — up to each subscriber's free slots, and sends them down the
//! same path as new events.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, WrapFuture};

use super::enricher::EnricherActor;
use super::health::ActorHealth;
use super::messages::{Enrich, EventId, RecordedEvent};
use super::ownership::Ownership;
use super::slots::Slots;
use crate::domain::event::{Event, EventKind};
use crate::store::journal::{Claimed, Journal, Ticket};
use crate::store::models::deliveries::{DeliveryState, OutcomeWrite};

pub const SWEEP_EVERY: Duration = Duration::from_millis(200);
/// Deliveries claimed for one subscriber in one go at most. A full claim is
/// followed by another straight away, so a backlog drains at the
/// subscriber's own speed rather than one claim per tick.
const MOST_PER_CLAIM: usize = 512;

/// A subscriber whose backlog the sweeper claims.
#[derive(Clone)]
pub struct SweptSubscriber {
    pub id: &'static str,
    pub slots: Arc<Slots>,
    pub health: Arc<ActorHealth>,
}

pub struct SweeperActor {
    journal: Journal,
    enricher: Addr<EnricherActor>,
    subscribers: Vec<SweptSubscriber>,
    ownership: Arc<Ownership>,
    claiming: HashSet<&'static str>,
    health: Arc<ActorHealth>,
}

impl SweeperActor {
    pub fn new(
        journal: Journal,
        enricher: Addr<EnricherActor>,
        subscribers: Vec<SweptSubscriber>,
        ownership: Arc<Ownership>,
        health: Arc<ActorHealth>,
    ) -> Self {
        SweeperActor {
            journal,
            enricher,
            subscribers,
            ownership,
            claiming: HashSet::new(),
            health,
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        for swept in self.subscribers.clone() {
            self.claim_for(swept, ctx);
        }
    }

    /// Claims what one subscriber has room for.
    fn claim_for(&mut self, swept: SweptSubscriber, ctx: &mut Context<Self>) {
        let subscriber = swept.id;
        // Another replica delivers for subscribers it owns; an open
        // circuit's backlog waits for the probe's verdict.
        if self.claiming.contains(subscriber)
            || !self.ownership.owns(subscriber)
            || swept.health.circuit_is_open()
        {
            return;
        }
        let taken = swept.slots.take_up_to(MOST_PER_CLAIM);
        if taken == 0 {
            return;
        }
        self.claiming.insert(subscriber);
        let journal = self.journal.clone();
        let claim = async move { journal.claim(subscriber, taken).await };
        ctx.spawn(claim.into_actor(self).map(move |result, actor, ctx| {
            actor.claiming.remove(subscriber);
            match result {
                Ok(claimed) => {
                    let full = claimed.len() == taken;
                    swept.slots.give_back(taken - claimed.len());
                    actor.hand_on(claimed, &swept.slots);
                    if full {
                        actor.claim_for(swept, ctx);
                    }
                }
                Err(error) => {
                    swept.slots.give_back(taken);
                    actor
                        .health
                        .record_error(format!("{subscriber}: claim failed: {error}"));
                    log::warn!("sweeper: claiming {subscriber}'s deliveries failed: {error}");
                }
            }
        }));
    }

    /// Groups claimed deliveries by event and sends each event on.
    fn hand_on(&mut self, claimed: Vec<Claimed>, slots: &Slots) {
        if claimed.is_empty() {
            return;
        }
        ActorHealth::count(&self.health.received);
        let mut by_event: BTreeMap<
            String,
            (Arc<crate::store::models::events::EventRow>, Vec<Ticket>),
        > = BTreeMap::new();
        for item in claimed {
            by_event
                .entry(item.event.id.clone())
                .or_insert_with(|| (item.event.clone(), Vec::new()))
                .1
                .push(item.ticket);
        }
        for (event_id, (row, tickets)) in by_event {
            ActorHealth::count(&self.health.delivered);
            let parsed = parse_stored(&row.kind, &row.body).and_then(|event| {
                let id = event_id.parse::<EventId>().map_err(|e| e.to_string())?;
                Ok((id, event))
            });
            let (id, event) = match parsed {
                Ok(parsed) => parsed,
                Err(error) => {
                    // Never expected: the body was written by intake.
                    log::error!(
                        "event {event_id}: stored event unreadable ({error}); its deliveries fail"
                    );
                    for ticket in tickets {
                        self.journal.record_outcome(unreadable(ticket, &error));
                        slots.give_back(1);
                    }
                    continue;
                }
            };
            log::debug!("event {id}: swept {} deliveries", tickets.len());
            let recorded = RecordedEvent {
                id,
                received_at: row.received_at,
                event,
                tickets,
            };
            if let Err(error) = self.enricher.try_send(Enrich(recorded)) {
                let Enrich(recorded) = error.into_inner();
                for ticket in &recorded.tickets {
                    self.journal.release(ticket, super::health::now_ms());
                    slots.give_back(1);
                }
            }
        }
    }
}

fn parse_stored(kind: &str, body: &str) -> Result<Event, String> {
    let kind = match kind {
        "deployment" => EventKind::Deployment,
        "error" => EventKind::Error,
        "recommendation" => EventKind::Recommendation,
        other => return Err(format!("unknown kind {other}")),
    };
    let value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Event::parse(kind, value).map_err(|e| e.to_string())
}

fn unreadable(ticket: Ticket, error: &str) -> OutcomeWrite {
    OutcomeWrite {
        id: ticket.delivery_id,
        lease_epoch: ticket.lease_epoch,
        state: DeliveryState::Failed,
        attempts: ticket.attempts,
        due_at: 0,
        progress: ticket.progress,
        outcome: None,
        last_error: Some(format!("stored event unreadable: {error}")),
    }
}

impl Actor for SweeperActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.sweep(ctx);
        ctx.run_interval(SWEEP_EVERY, |actor, ctx| actor.sweep(ctx));
    }
}

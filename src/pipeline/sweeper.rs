//! The sweeper: every [`SWEEP_EVERY`] it claims due deliveries from the
//! journal — retries whose wait is over, work a crashed process left behind
//! (its lease ran out), and the backlog that did not fit in a subscriber's
//! slots — for each subscriber this replica delivers for, up to its free
//! slots and what its circuit lets through, and publishes them to the
//! registry like new events (the journal holds them enriched). Claims take
//! the earliest due first, then the earliest accepted, and hand each claim
//! on oldest event first: a circuit's line (due at acceptance times, see
//! `engine::circuit`) goes out in acceptance order, its probe first.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, SpawnHandle,
    Supervised, WrapFuture,
};

use super::Handback;
use super::messages::{Publish, Quiesce};
use super::registry::RegistryActor;
use super::routing::{Route, Routing, current};
use crate::domain::{EnrichedEvent, EventId, EventKind, PublishedEvent};
use crate::engine::ActorHealth;
use crate::engine::guard::guarded;
use crate::store::journal::{Claimed, Journal, Ticket};
use crate::store::models::deliveries::{DeliveryState, OutcomeWrite};
use crate::store::models::events::EventRow;

pub const SWEEP_EVERY: Duration = Duration::from_millis(200);
/// Deliveries claimed for one subscriber in one go at most. A full claim is
/// followed by another straight away, so a backlog drains at the
/// subscriber's own speed rather than one claim per tick.
const MOST_PER_CLAIM: usize = 512;

pub struct SweeperActor {
    journal: Journal,
    registry: Addr<RegistryActor>,
    routing: Routing,
    handback: Handback,
    claiming: HashSet<&'static str>,
    health: Arc<ActorHealth>,
    ticking: Option<SpawnHandle>,
    /// Notified when a slot comes back to a subscriber with a backlog.
    backlog_wake: Arc<Notify>,
    /// Shutting down: nothing more is claimed.
    quiet: bool,
}

impl SweeperActor {
    pub fn new(
        journal: Journal,
        registry: Addr<RegistryActor>,
        routing: Routing,
        handback: Handback,
        backlog_wake: Arc<Notify>,
        health: Arc<ActorHealth>,
    ) -> Self {
        SweeperActor {
            journal,
            registry,
            routing,
            handback,
            claiming: HashSet::new(),
            health,
            ticking: None,
            backlog_wake,
            quiet: false,
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        fail::fail_point!("sweeper-sweep");
        // Tests turn the ticks off to show that wake-ups alone deliver.
        fail::fail_point!("sweeper-ticks-off", |_| {});
        ActorHealth::count(&self.health.rounds);
        let table = current(&self.routing);
        for route in table.routes.iter().filter(|route| route.is_active_here()) {
            self.claim_for(route.clone(), ctx);
        }
    }

    /// Claims for the subscribers whose backlog got a slot back, between
    /// ticks. A subscriber with a claim under way keeps its mark: the
    /// claim's end looks again.
    fn drain_backlogs(&mut self, ctx: &mut Context<Self>) {
        let table = current(&self.routing);
        for route in table.routes.iter().filter(|route| route.is_active_here()) {
            if !self.claiming.contains(route.id) && route.slots.take_backlog() {
                self.claim_for(route.clone(), ctx);
            }
        }
    }

    /// Waits for the next wake, drains, and waits again (until quiesced).
    fn await_backlog_wake(&mut self, ctx: &mut Context<Self>) {
        let wake = self.backlog_wake.clone();
        let woken = async move { wake.notified().await };
        ctx.spawn(woken.into_actor(self).map(|(), actor, ctx| {
            if actor.quiet {
                return;
            }
            let health = actor.health.clone();
            guarded(&health, ctx, |ctx| actor.drain_backlogs(ctx));
            actor.await_backlog_wake(ctx);
        }));
    }

    /// Claims what one subscriber has room for, and its circuit allows.
    fn claim_for(&mut self, route: Route, ctx: &mut Context<Self>) {
        let subscriber = route.id;
        let admits = route.health.circuit_admits().min(MOST_PER_CLAIM);
        if self.claiming.contains(subscriber) || admits == 0 {
            return;
        }
        let taken = route.slots.take_up_to(admits);
        if taken == 0 {
            // Work may wait (a wake-up took the mark): the next slot back
            // claims it.
            route.slots.mark_backlog();
            return;
        }
        self.claiming.insert(subscriber);
        let journal = self.journal.clone();
        let claim = async move { journal.claim(subscriber, taken).await };
        ctx.spawn(claim.into_actor(self).map(move |result, actor, ctx| {
            actor.claiming.remove(subscriber);
            match result {
                Ok(claimed) => {
                    if !claimed.is_empty() {
                        // A crash here leaves the claimed rows leased to a
                        // dead process: they are taken up again after a
                        // restart.
                        fail::fail_point!("sweeper-after-claim", |_| std::process::abort());
                    }
                    // Another claim at once only after a claim as large as
                    // claims get (not one cut short by the slots or by a
                    // circuit letting one probe through).
                    let full = claimed.len() == MOST_PER_CLAIM;
                    // Every slot taken was filled: more may wait, and the
                    // next slot back claims again (or a mark left while
                    // this claim ran).
                    if claimed.len() == taken && !full {
                        route.slots.mark_backlog();
                    }
                    route.slots.give_back(taken - claimed.len());
                    actor.hand_on(claimed);
                    if full && ctx.state() == actix::ActorState::Running {
                        let still_active = current(&actor.routing)
                            .route(subscriber)
                            .is_some_and(|r| r.is_active_here());
                        if still_active {
                            actor.claim_for(route, ctx);
                        }
                    }
                }
                Err(error) => {
                    route.slots.give_back(taken);
                    actor
                        .health
                        .record_error(format!("{subscriber}: claim failed: {error}"));
                    log::warn!("sweeper: claiming {subscriber}'s deliveries failed: {error}");
                }
            }
        }));
    }

    /// Groups claimed deliveries by event and publishes each event.
    fn hand_on(&mut self, claimed: Vec<Claimed>) {
        if claimed.is_empty() {
            return;
        }
        ActorHealth::count(&self.health.received);
        let mut by_event: BTreeMap<String, (Arc<EventRow>, Vec<Ticket>)> = BTreeMap::new();
        for item in claimed {
            by_event
                .entry(item.event.id.clone())
                .or_insert_with(|| (item.event.clone(), Vec::new()))
                .1
                .push(item.ticket);
        }
        for (event_id, (row, tickets)) in by_event {
            ActorHealth::count(&self.health.delivered);
            let event = match read_stored(&row) {
                Ok(event) => event,
                Err(error) => {
                    // Never expected: the body was written by intake.
                    log::error!(
                        "event {event_id}: stored event unreadable ({error}); its deliveries fail"
                    );
                    for ticket in tickets {
                        self.journal.record_outcome(unreadable(&ticket, &error));
                        self.handback.free_slot(ticket.subscriber);
                    }
                    continue;
                }
            };
            log::debug!("event {}: swept {} deliveries", event.id, tickets.len());
            let mut tickets = tickets;
            for ticket in tickets.iter_mut().filter(|t| t.destinations.is_none()) {
                // Recorded before plans were stored: planned now, once.
                let planned = current(&self.routing).late_plan(ticket.subscriber, &event);
                ticket.destinations = Some(Arc::new(planned));
            }
            let publish = Publish {
                event: Arc::new(event),
                tickets,
            };
            if let Err(error) = self.registry.try_send(publish) {
                let publish = error.into_inner();
                self.handback.give_back(&publish.tickets);
            }
        }
    }
}

/// An event as the journal stored it: enriched already.
fn read_stored(row: &EventRow) -> Result<PublishedEvent, String> {
    let kind = match row.kind.as_str() {
        "deployment" => EventKind::Deployment,
        "error" => EventKind::Error,
        "recommendation" => EventKind::Recommendation,
        other => return Err(format!("unknown kind {other}")),
    };
    let id = row.id.parse::<EventId>().map_err(|e| e.to_string())?;
    let body: serde_json::Value = serde_json::from_str(&row.body).map_err(|e| e.to_string())?;
    let event = EnrichedEvent::from_stored(kind, body.clone()).map_err(|e| e.to_string())?;
    // Templates see the event as stored.
    Ok(PublishedEvent {
        id,
        received_at: row.received_at,
        event,
        json: Arc::new(body),
    })
}

fn unreadable(ticket: &Ticket, error: &str) -> OutcomeWrite {
    OutcomeWrite {
        id: ticket.delivery_id,
        lease_epoch: ticket.lease_epoch,
        state: DeliveryState::Failed,
        attempts: ticket.attempts,
        due_at: 0,
        progress: ticket.progress.clone(),
        outcome: None,
        last_error: Some(format!("stored event unreadable: {error}")),
        deferred_since: None,
    }
}

impl Actor for SweeperActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.health.set_restarting(false);
        if self.quiet {
            return;
        }
        let health = self.health.clone();
        guarded(&health, ctx, |ctx| self.sweep(ctx));
        self.await_backlog_wake(ctx);
        self.ticking = Some(ctx.run_interval(SWEEP_EVERY, |actor, ctx| {
            let health = actor.health.clone();
            guarded(&health, ctx, |ctx| actor.sweep(ctx));
        }));
    }
}

impl Supervised for SweeperActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.claiming.clear();
        log::warn!("sweeper: restarted by its supervisor");
    }
}

impl Handler<Quiesce> for SweeperActor {
    type Result = ();

    fn handle(&mut self, _: Quiesce, ctx: &mut Self::Context) {
        self.quiet = true;
        if let Some(ticking) = self.ticking.take() {
            ctx.cancel_future(ticking);
        }
    }
}

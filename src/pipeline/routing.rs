//! The routing table: for each subscriber, whether it is configured and
//! switched on, whether this replica delivers for it, its slots and where
//! its actor is. The registry actor owns it and is the only one to change
//! it; everyone else (the enricher planning an event's deliveries, the
//! sweeper, health) reads the latest immutable snapshot through a
//! `tokio::sync::watch` channel.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::config::OperatorConfig;
use crate::domain::silence_set::{EventSilences, SilenceSet};
use crate::domain::{Destination, EventKind, PlannedDestination, PublishedEvent};
use crate::engine::slots::Slots;
use crate::engine::{ActorHealth, Availability, Planning, StartedActor};
use crate::store::journal::{OnceClaim, PlannedDelivery};
use crate::subscribers::Subscriber;
use crate::subscribers::database::Database;

/// Whether a subscriber takes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
    /// Without its configuration it has no actor and skips everything.
    Unconfigured,
}

/// One subscriber's row.
#[derive(Clone)]
pub struct Route {
    pub id: &'static str,
    pub kinds: &'static [EventKind],
    pub switch: Switch,
    /// Whether this replica delivers its work (with several replicas each
    /// subscriber has one owner at a time).
    pub owned: bool,
    pub slots: Arc<Slots>,
    pub health: Arc<ActorHealth>,
    /// Whether it sends its kind's main message (routes choose its
    /// channels; their `once_per` applies to it).
    pub routed: bool,
    /// Declared in the operator file (a webhook).
    pub declared: bool,
    /// Its actor; `None` when unconfigured.
    pub actor: Option<StartedActor>,
}

impl Route {
    pub fn takes(&self, kind: EventKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Whether its deliveries should be worked on here now.
    pub fn is_active_here(&self) -> bool {
        self.switch == Switch::On && self.owned && self.actor.is_some()
    }
}

/// An immutable snapshot; a change makes a new one.
#[derive(Clone, Default)]
pub struct RoutingTable {
    pub routes: Vec<Route>,
    /// The operator's routes, templates and webhooks in force.
    pub operator: Arc<OperatorConfig>,
    /// The stored silences not yet ended, compiled.
    pub silences: Arc<SilenceSet>,
}

/// What the enricher decided for one event.
#[derive(Debug, Default)]
pub struct Plan {
    pub deliveries: Vec<PlannedDelivery>,
    /// Subscribers of the event's kind that skip it, with why. Recorded
    /// with the event, once: this is where a skip is decided (a duplicate
    /// under `once_per` is decided with the commit, across replicas).
    pub skipped: Map<String, Value>,
    /// The `once_per` rules this event falls under.
    pub once: Vec<OnceClaim>,
    /// The silences that skipped a delivery, for their counts.
    pub silenced_by: Vec<String>,
}

impl RoutingTable {
    pub fn route(&self, id: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.id == id)
    }

    pub fn availability(&self, id: &str) -> Availability {
        match self.route(id).map(|route| route.switch) {
            Some(Switch::Off) => Availability::Disabled,
            Some(Switch::Unconfigured) => Availability::Unconfigured,
            _ => Availability::Active,
        }
    }

    /// The plan of an event, made once at intake from this snapshot: for
    /// each subscriber of its kind, deliver (to the destinations it
    /// resolved, stored with the delivery) or skip, and why: off,
    /// unconfigured, a webhook no route sends it to, or silenced (whole
    /// deliveries); a route's `never_channels` (a channel) already left
    /// out of the destinations; a `once_per` duplicate decided with the
    /// commit (see [`Plan::once`]). A delivery is pushed straight to this
    /// replica's actor when it owns the subscriber, its circuit lets
    /// everything through and a slot is free; otherwise it waits in the
    /// journal for the sweeper.
    pub fn plan(&self, event: &PublishedEvent) -> Plan {
        let mut plan = Plan::default();
        let (kind, json) = (event.kind(), event.json.as_ref());
        // The event's fields are matched against the silences once, not
        // once per subscriber.
        let silences = self.silences.for_event(event.received_at, kind, json);
        for route in self.routes.iter().filter(|route| route.takes(kind)) {
            let skip = match route.switch {
                Switch::Unconfigured => "not configured".to_owned(),
                Switch::Off => "disabled".to_owned(),
                Switch::On => {
                    if let Some(why) = self.why_skipped(route, kind, json, &silences, &mut plan) {
                        why
                    } else {
                        let push = route.owned
                            && route.actor.is_some()
                            && route.health.circuit_admits() == usize::MAX
                            && route.slots.try_take();
                        plan.deliveries.push(PlannedDelivery {
                            subscriber: route.id,
                            destinations: self.destinations(route, event),
                            push,
                        });
                        continue;
                    }
                }
            };
            ActorHealth::count(&route.health.skipped);
            plan.skipped.insert(route.id.into(), skip.into());
        }
        plan.once = self.once_claims(kind, json, &plan.deliveries);
        plan
    }

    /// Where one subscriber sends an event: its own choice, with the
    /// operator's routes in this snapshot.
    fn destinations(&self, route: &Route, event: &PublishedEvent) -> Vec<PlannedDestination> {
        let planning = Planning {
            kind: event.kind(),
            json: &event.json,
            operator: &self.operator,
        };
        route
            .actor
            .as_ref()
            .map(|actor| actor.planner.destinations(&event.event, &planning))
            .unwrap_or_default()
    }

    /// The destinations of a delivery recorded before plans were stored:
    /// planned once, from this snapshot, when it is next claimed.
    pub fn late_plan(&self, subscriber: &str, event: &PublishedEvent) -> Vec<Destination> {
        self.route(subscriber)
            .map(|route| self.destinations(route, event))
            .unwrap_or_default()
            .into_iter()
            .map(|planned| planned.destination)
            .collect()
    }

    /// Why a switched-on subscriber skips this event, if it does.
    fn why_skipped(
        &self,
        route: &Route,
        kind: EventKind,
        event: &Value,
        silences: &EventSilences<'_>,
        plan: &mut Plan,
    ) -> Option<String> {
        if route.declared {
            let webhook = self.operator.webhooks.iter().find(|w| w.id == route.id);
            match webhook {
                None => return Some("removed from the configuration".into()),
                Some(webhook) if !self.operator.webhook_takes(webhook, kind, event) => {
                    return Some("no route sends it here".into());
                }
                Some(_) => {}
            }
        }
        // The history is always kept: insights and the next deployment's
        // change context read it.
        if route.id == Database::ID {
            return None;
        }
        let silence = silences.silencing(route.id)?;
        plan.silenced_by.push(silence.id.clone());
        Some(format!("silenced by {}", silence.id))
    }

    /// The `once_per` rules over the planned deliveries: a route's rule
    /// claims when a planned delivery goes somewhere the route added, a
    /// whole-delivery rule when one of its subscribers was planned.
    fn once_claims(
        &self,
        kind: EventKind,
        event: &Value,
        planned: &[PlannedDelivery],
    ) -> Vec<OnceClaim> {
        if self.operator.routes.is_empty() && self.operator.webhooks.is_empty() {
            return Vec::new();
        }
        let routed: Vec<&'static str> = self
            .routes
            .iter()
            .filter(|route| route.routed)
            .map(|route| route.id)
            .collect();
        self.operator
            .once_per_claims(kind, event, &routed)
            .into_iter()
            .filter_map(|claim| {
                let subscribers: Vec<&'static str> = planned
                    .iter()
                    .map(|p| p.subscriber)
                    .filter(|id| claim.subscribers.iter().any(|s| s == id))
                    .collect();
                let adds = claim.route.as_ref().is_some_and(|name| {
                    planned
                        .iter()
                        .flat_map(|p| &p.destinations)
                        .any(|d| d.routes.contains(name))
                });
                (!subscribers.is_empty() || adds).then_some(OnceClaim {
                    key: claim.key,
                    window_ms: claim.window.as_millis() as i64,
                    subscribers,
                    route: claim.route.filter(|_| adds),
                })
            })
            .collect()
    }
}

/// A reader's view of the table: always the latest snapshot.
pub type Routing = watch::Receiver<Arc<RoutingTable>>;

/// The latest snapshot, cheap to hold (the table is behind an `Arc`).
pub fn current(routing: &Routing) -> Arc<RoutingTable> {
    routing.borrow().clone()
}

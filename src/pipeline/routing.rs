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
use crate::domain::EventKind;
use crate::domain::silence_set::{EventSilences, SilenceSet};
use crate::engine::slots::Slots;
use crate::engine::{ActorHealth, Availability, StartedActor};
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

    /// Which subscribers get an event, and why the others skip it: off,
    /// unconfigured, a webhook no route sends it to, or silenced. A
    /// delivery is pushed straight to this replica's actor when it owns the
    /// subscriber, its circuit lets everything through and a slot is free;
    /// otherwise it waits in the journal for the sweeper.
    pub fn plan(&self, kind: EventKind, event: &Value, now_ms: i64) -> Plan {
        let mut plan = Plan::default();
        // The event's fields are matched against the silences once, not
        // once per subscriber.
        let silences = self.silences.for_event(now_ms, kind, event);
        for route in self.routes.iter().filter(|route| route.takes(kind)) {
            let skip = match route.switch {
                Switch::Unconfigured => "not configured".to_owned(),
                Switch::Off => "disabled".to_owned(),
                Switch::On => {
                    if let Some(why) = self.why_skipped(route, kind, event, &silences, &mut plan) {
                        why
                    } else {
                        let push = route.owned
                            && route.actor.is_some()
                            && route.health.circuit_admits() == usize::MAX
                            && route.slots.try_take();
                        plan.deliveries.push(PlannedDelivery {
                            subscriber: route.id,
                            push,
                        });
                        continue;
                    }
                }
            };
            ActorHealth::count(&route.health.skipped);
            plan.skipped.insert(route.id.into(), skip.into());
        }
        plan.once = self.once_claims(kind, event, &plan.deliveries);
        plan
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

    /// The `once_per` rules over the planned deliveries (a rule whose
    /// subscribers were not planned claims nothing).
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
                (!subscribers.is_empty()).then_some(OnceClaim {
                    key: claim.key,
                    window_ms: claim.window.as_millis() as i64,
                    subscribers,
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

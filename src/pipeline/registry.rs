//! The registry actor: one entry per subscriber. It hands each delivery of
//! a published event to its subscriber's actor, records a skip for
//! subscribers that are switched off, and owns the on/off switch.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter, Context, Handler, Message, Recipient};

use super::Handback;
use super::health::ActorHealth;
use super::messages::{Deliver, Drain, Publish, SetEnabled, UnknownSubscriber};
use super::slots::Slots;
use crate::config::{ConfigError, Settings};
use crate::domain::event::EventKind;
use crate::store::journal::{Journal, Ticket};
use crate::store::models::deliveries::{DeliveryState, OutcomeWrite};
use crate::subscribers::actor::ActorLimits;
use crate::subscribers::rate_limit::Limiter;
use crate::subscribers::{Registration, Setup};

const MAILBOX_CAPACITY: usize = 65_536;

pub struct SubscriberEntry {
    pub id: &'static str,
    pub kinds: &'static [EventKind],
    /// `None` when the subscriber is not configured.
    pub target: Option<Recipient<Deliver>>,
    pub enabled: bool,
    pub health: Arc<ActorHealth>,
    pub slots: Arc<Slots>,
}

pub struct StartedSubscribers {
    pub entries: Vec<SubscriberEntry>,
    pub arbiters: Vec<Arbiter>,
    pub drains: Vec<Recipient<Drain>>,
}

/// What intake needs to know of a subscriber to plan an event's deliveries.
#[derive(Clone)]
pub struct Target {
    pub id: &'static str,
    pub kinds: &'static [EventKind],
    pub status: TargetStatus,
    pub slots: Arc<Slots>,
    /// Where intake counts the events it records as skipped.
    pub health: Arc<ActorHealth>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetStatus {
    Enabled,
    Disabled,
    Unconfigured,
}

/// Registry → intake: the subscribers' switches changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TargetsChanged(pub Vec<Target>);

/// Pipeline start → registry: where to announce switch changes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchTargets(pub Recipient<TargetsChanged>);

pub fn targets(entries: &[SubscriberEntry]) -> Vec<Target> {
    entries
        .iter()
        .map(|entry| Target {
            id: entry.id,
            kinds: entry.kinds,
            status: match (&entry.target, entry.enabled) {
                (None, _) => TargetStatus::Unconfigured,
                (Some(_), false) => TargetStatus::Disabled,
                (Some(_), true) => TargetStatus::Enabled,
            },
            slots: entry.slots.clone(),
            health: entry.health.clone(),
        })
        .collect()
}

/// Resolves `DISABLED_SUBSCRIBERS` and starts an actor for every configured
/// subscriber (disabled ones too, so that they can be switched on).
pub fn start_subscribers(
    settings: &Settings,
    journal: &Journal,
    registrations: &[Registration],
    switches: &HashMap<String, bool>,
) -> Result<StartedSubscribers, ConfigError> {
    let disabled = disabled_ids(&settings.subscribers.disabled.0, registrations)?;
    let limits = ActorLimits {
        concurrency: settings.subscribers.concurrency,
        timeout: Duration::from_secs(settings.subscribers.timeout_seconds),
        circuit_failures: settings.subscribers.circuit_failures,
        circuit_cooldown: Duration::from_secs(settings.subscribers.circuit_cooldown_seconds),
    };
    let setup = Setup { settings, journal };
    let mut started = StartedSubscribers {
        entries: Vec::new(),
        arbiters: Vec::new(),
        drains: Vec::new(),
    };
    for registration in registrations {
        let health = ActorHealth::new(registration.id, "subscriber");
        let slots = Arc::new(Slots::new(settings.subscribers.queue_capacity));
        // A switch an admin set wins; DISABLED_SUBSCRIBERS is the default.
        let enabled = switches
            .get(registration.id)
            .copied()
            .unwrap_or(!disabled.contains(registration.id));
        health.set_enabled(enabled);
        let limiter = Arc::new(Limiter::new(settings.subscribers.rate_limits.resolve(
            registration.id,
            registration.rate_group,
            registration.default_rate_limit,
        )));
        health.attach_limiter(limiter.clone());
        let actor = registration.start(&setup, limits, health.clone(), slots.clone(), limiter)?;
        health.set_configured(actor.is_some());
        let state = match (&actor, enabled) {
            (None, _) => "unconfigured: it skips every event",
            (Some(_), false) => "disabled",
            (Some(_), true) => "running",
        };
        log::info!("{}: {state}", registration.id);
        let target = actor.map(|actor| {
            started.arbiters.push(actor.arbiter);
            started.drains.push(actor.drain);
            actor.recipient
        });
        started.entries.push(SubscriberEntry {
            id: registration.id,
            kinds: registration.kinds,
            target,
            enabled,
            health,
            slots,
        });
    }
    Ok(started)
}

/// Maps ids and the Python service's module names to ids; an unknown name
/// is a start-up error listing the valid ids.
fn disabled_ids(
    names: &[String],
    registrations: &[Registration],
) -> Result<BTreeSet<&'static str>, ConfigError> {
    let mut ids = BTreeSet::new();
    let mut unknown = Vec::new();
    for name in names {
        match registrations
            .iter()
            .find(|r| r.id == name || r.legacy_name == name)
        {
            Some(registration) => {
                ids.insert(registration.id);
            }
            None => unknown.push(name.as_str()),
        }
    }
    if unknown.is_empty() {
        return Ok(ids);
    }
    let valid: Vec<&str> = registrations.iter().map(|r| r.id).collect();
    Err(ConfigError::UnknownSubscriber {
        unknown: unknown.join(", "),
        valid: valid.join(", "),
    })
}

pub struct RegistryActor {
    entries: Vec<SubscriberEntry>,
    handback: Handback,
    health: Arc<ActorHealth>,
    watchers: Vec<Recipient<TargetsChanged>>,
}

impl RegistryActor {
    pub fn new(
        entries: Vec<SubscriberEntry>,
        handback: Handback,
        health: Arc<ActorHealth>,
    ) -> Self {
        RegistryActor {
            entries,
            handback,
            health,
            watchers: Vec::new(),
        }
    }

    /// A delivery that will not be made: recorded as skipped, slot freed.
    fn skip(&self, ticket: Ticket, entry: &SubscriberEntry, reason: &str, event_id: &str) {
        ActorHealth::count(&entry.health.skipped);
        log::debug!("{}: event {event_id} skipped: {reason}", entry.id);
        self.handback.journal().record_outcome(OutcomeWrite {
            id: ticket.delivery_id,
            lease_epoch: ticket.lease_epoch,
            state: DeliveryState::Skipped,
            attempts: ticket.attempts,
            due_at: 0,
            progress: ticket.progress,
            outcome: Some(reason.to_owned()),
            last_error: None,
        });
        entry.slots.give_back(1);
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Publish> for RegistryActor {
    type Result = ();

    fn handle(&mut self, message: Publish, _ctx: &mut Self::Context) {
        ActorHealth::count(&self.health.received);
        let Publish { event, tickets } = message;
        let event_id = event.id.to_string();
        for ticket in tickets {
            let Some(entry) = self.entries.iter().find(|e| e.id == ticket.subscriber) else {
                log::error!("event {event_id}: no subscriber {}", ticket.subscriber);
                continue;
            };
            let Some(target) = entry.target.as_ref() else {
                self.skip(ticket, entry, "not configured", &event_id);
                continue;
            };
            if !entry.enabled {
                self.skip(ticket, entry, "disabled", &event_id);
                continue;
            }
            let deliver = Deliver {
                ticket,
                event: event.clone(),
            };
            if let Err(error) = target.try_send(deliver) {
                let deliver = error.into_inner();
                log::warn!(
                    "{}: event {event_id} not handed over (mailbox full); it waits in the journal",
                    entry.id
                );
                self.handback.give_back(&[deliver.ticket]);
            }
        }
        ActorHealth::count(&self.health.delivered);
    }
}

impl Handler<SetEnabled> for RegistryActor {
    type Result = Result<(), UnknownSubscriber>;

    fn handle(&mut self, message: SetEnabled, _ctx: &mut Self::Context) -> Self::Result {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.id == message.id)
            .ok_or_else(|| UnknownSubscriber(message.id.clone()))?;
        entry.enabled = message.enabled;
        entry.health.set_enabled(message.enabled);
        log::info!(
            "{}: {}",
            entry.id,
            if message.enabled {
                "enabled"
            } else {
                "disabled"
            }
        );
        let targets = targets(&self.entries);
        for watcher in &self.watchers {
            watcher.do_send(TargetsChanged(targets.clone()));
        }
        Ok(())
    }
}

impl Handler<WatchTargets> for RegistryActor {
    type Result = ();

    fn handle(&mut self, message: WatchTargets, _ctx: &mut Self::Context) {
        self.watchers.push(message.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscribers::registrations;

    #[test]
    fn disabled_names_accept_ids_and_legacy_module_names() {
        let names = vec![
            "slack-error".to_owned(),
            "modules.subscribers.slack.slack_deployment".to_owned(),
        ];
        let ids = disabled_ids(&names, &registrations()).unwrap();
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            ["slack-deployment", "slack-error"]
        );
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ids() {
        let names = vec!["slack-eror".to_owned()];
        let error = disabled_ids(&names, &registrations()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "DISABLED_SUBSCRIBERS names unknown subscriber(s) slack-eror; valid ids: \
             application-endpoint, database, detectify, lighthouse, slack-deployment, slack-error, \
             slack-recommendation, uptimerobot"
        );
    }
}

//! The registry actor: holds one entry per subscriber and publishes each
//! event to the enabled, configured subscribers that take its kind.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter, Context, Handler, Recipient};

use super::health::ActorHealth;
use super::messages::{Deliver, Publish, SetEnabled, UnknownSubscriber};
use crate::config::{ConfigError, Settings};
use crate::domain::event::EventKind;
use crate::subscribers::Registration;
use crate::subscribers::actor::ActorLimits;

const MAILBOX_CAPACITY: usize = 65_536;

pub struct SubscriberEntry {
    pub id: &'static str,
    pub kinds: &'static [EventKind],
    /// `None` when the subscriber is not configured.
    pub target: Option<Recipient<Deliver>>,
    pub enabled: bool,
    pub health: Arc<ActorHealth>,
}

pub struct StartedSubscribers {
    pub entries: Vec<SubscriberEntry>,
    pub arbiters: Vec<Arbiter>,
}

/// Resolves `DISABLED_SUBSCRIBERS` and starts an actor for every configured
/// subscriber (disabled ones too, so that they can be switched on).
pub fn start_subscribers(
    settings: &Settings,
    registrations: &[Registration],
) -> Result<StartedSubscribers, ConfigError> {
    let disabled = disabled_ids(&settings.subscribers.disabled.0, registrations)?;
    let limits = ActorLimits {
        concurrency: settings.subscribers.concurrency,
        queue_capacity: settings.subscribers.queue_capacity,
        timeout: Duration::from_secs(settings.subscribers.timeout_seconds),
    };
    let mut started = StartedSubscribers {
        entries: Vec::new(),
        arbiters: Vec::new(),
    };
    for registration in registrations {
        let health = ActorHealth::new(registration.id, "subscriber");
        let enabled = !disabled.contains(registration.id);
        health.set_enabled(enabled);
        let actor = registration.start(settings, limits, health.clone())?;
        health.set_configured(actor.is_some());
        let state = match (&actor, enabled) {
            (None, _) => "unconfigured: it skips every event",
            (Some(_), false) => "disabled",
            (Some(_), true) => "running",
        };
        log::info!("{}: {state}", registration.id);
        let target = actor.map(|actor| {
            started.arbiters.push(actor.arbiter);
            actor.recipient
        });
        started.entries.push(SubscriberEntry {
            id: registration.id,
            kinds: registration.kinds,
            target,
            enabled,
            health,
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
    health: Arc<ActorHealth>,
}

impl RegistryActor {
    pub fn new(entries: Vec<SubscriberEntry>, health: Arc<ActorHealth>) -> Self {
        RegistryActor { entries, health }
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
        let event = message.0;
        let kind = event.kind();
        for entry in self.entries.iter().filter(|e| e.kinds.contains(&kind)) {
            let id = entry.id;
            let Some(target) = entry.target.as_ref() else {
                ActorHealth::count(&entry.health.skipped);
                log::debug!("{id}: event {} skipped: not configured", event.id);
                continue;
            };
            if !entry.enabled {
                ActorHealth::count(&entry.health.skipped);
                log::debug!("{id}: event {} skipped: disabled", event.id);
                continue;
            }
            // try_send: a subscriber whose mailbox is full loses this event
            // (counted and logged) rather than holding up the others.
            if target.try_send(Deliver(event.clone())).is_err() {
                ActorHealth::count(&entry.health.dropped);
                entry
                    .health
                    .record_error(format!("event {}: dropped, mailbox full", event.id));
                log::error!("{id}: event {} dropped, its mailbox is full", event.id);
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
        Ok(())
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
             application-endpoint, slack-deployment, slack-error, slack-recommendation"
        );
    }
}

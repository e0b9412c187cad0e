//! The registry actor: the one owner of the routing table. It hands each
//! published delivery to its subscriber's actor, and every change to the
//! table — an admin's switch (stored here, so it outlives restarts and
//! reaches the other replicas), a switch another replica stored, a change
//! of which subscribers this replica delivers for — comes to it as a
//! message. After each change it publishes a new snapshot of the table.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use actix::{Actor, ActorFutureExt, Context, Handler, ResponseActFuture, Supervised, WrapFuture};
use tokio::sync::watch;

use super::Handback;
use super::messages::{
    ApplySilences, ApplyStoredSwitches, Publish, Reload, ReloadReport, SetEnabled, SetOwnership,
    SwitchError,
};
use super::routing::{RoutingTable, Switch};
use super::{DeclaredSubscribers, SubscriberLauncher};
use crate::clock::SharedClock;
use crate::config::ConfigError;
use crate::config::OperatorConfig;
use crate::domain::silence::Silence;
use crate::domain::silence_set::SilenceSet;
use crate::engine::guard::guarded;
use crate::engine::{ActorHealth, Deliver, Registration};
use crate::store::journal::Journal;
use crate::store::models::subscriber_settings::SubscriberSetting;

const MAILBOX_CAPACITY: usize = 65_536;

pub struct RegistryActor {
    table: RoutingTable,
    /// Each subscriber's switch, whether or not it is configured.
    switches: HashMap<&'static str, bool>,
    owner: TableOwner,
    /// When the silences in force were read.
    silences_as_of: Option<std::time::Instant>,
    journal: Journal,
    handback: Handback,
    clock: SharedClock,
    health: Arc<ActorHealth>,
}

/// What the registry changes the table with: where it publishes the table
/// (and with it the operator configuration), and how it starts the
/// subscribers a reload declares.
pub struct TableOwner {
    pub publisher: watch::Sender<Arc<RoutingTable>>,
    pub launcher: SubscriberLauncher,
    pub declared: DeclaredSubscribers,
}

impl RegistryActor {
    pub fn new(
        table: RoutingTable,
        owner: TableOwner,
        journal: Journal,
        handback: Handback,
        clock: SharedClock,
        health: Arc<ActorHealth>,
    ) -> Self {
        let switches = table
            .routes
            .iter()
            .map(|route| (route.id, route.switch == Switch::On))
            .collect();
        RegistryActor {
            table,
            switches,
            owner,
            silences_as_of: None,
            journal,
            handback,
            clock,
            health,
        }
    }

    /// Sets a switch in the table; answers whether it changed.
    fn apply_switch(&mut self, id: &str, enabled: bool) -> bool {
        let Some(route) = self.table.routes.iter_mut().find(|r| r.id == id) else {
            return false;
        };
        self.switches.insert(route.id, enabled);
        if route.switch == Switch::Unconfigured {
            return false;
        }
        let switch = if enabled { Switch::On } else { Switch::Off };
        let changed = route.switch != switch;
        route.switch = switch;
        changed
    }

    fn publish_table(&self) {
        self.owner
            .publisher
            .send_replace(Arc::new(self.table.clone()));
    }

    /// Puts a validated operator configuration in force: starts the
    /// webhooks it adds, marks those it removes (their waiting deliveries
    /// stay in the journal, delivered if the webhook comes back), and
    /// publishes the new routes and templates to every reader.
    fn reload(&mut self, config: OperatorConfig) -> Result<ReloadReport, ConfigError> {
        let config = Arc::new(config);
        let previous = Arc::clone(&self.table.operator);
        let declared = (self.owner.declared)(&config);
        let mut added = Vec::new();
        let mut new_routes = Vec::new();
        for registration in &declared {
            match self
                .table
                .routes
                .iter_mut()
                .find(|r| r.id == registration.id)
            {
                Some(route) => {
                    if route.switch == Switch::Unconfigured && route.actor.is_some() {
                        let on = self.switches.get(route.id).copied().unwrap_or(true);
                        route.switch = if on { Switch::On } else { Switch::Off };
                        added.push(route.id.to_owned());
                    }
                }
                None => {
                    let on = self.switches.get(registration.id).copied().unwrap_or(true);
                    // The launcher reads the configuration being put in force.
                    if !Arc::ptr_eq(&self.table.operator, &config) {
                        self.table.operator = config.clone();
                        self.publish_table();
                    }
                    let route = match self.owner.launcher.launch(registration, on) {
                        Ok(route) => route,
                        Err(error) => {
                            self.table.operator = previous;
                            self.publish_table();
                            return Err(error);
                        }
                    };
                    added.push(route.id.to_owned());
                    new_routes.push(route);
                }
            }
        }
        let mut removed = Vec::new();
        for route in self.table.routes.iter_mut().filter(|r| r.declared) {
            let kept = declared.iter().any(|r| r.id == route.id);
            if !kept && route.switch != Switch::Unconfigured {
                route.switch = Switch::Unconfigured;
                route
                    .health
                    .record_error("not configured: removed from the configuration file");
                removed.push(route.id.to_owned());
            }
        }
        self.table.routes.extend(new_routes);
        let settings_need_restart = previous
            .settings
            .iter()
            .filter(|(name, value)| config.settings.get(*name) != Some(*value))
            .map(|(name, _)| name.clone())
            .chain(
                config
                    .settings
                    .keys()
                    .filter(|name| !previous.settings.contains_key(*name))
                    .cloned(),
            )
            .collect();
        self.table.operator = config.clone();
        self.publish_table();
        let report = ReloadReport {
            file: config.source.as_ref().map(|p| p.display().to_string()),
            routes: config.routes.len(),
            webhooks: config.webhooks.iter().map(|w| w.id.clone()).collect(),
            webhooks_added: added,
            webhooks_removed: removed,
            templates_replaced: config
                .templates
                .replaced()
                .iter()
                .filter(|name| !name.starts_with("webhook:"))
                .cloned()
                .collect(),
            settings_need_restart,
        };
        log::info!(
            "registry: configuration reloaded: {} routes, webhooks {:?} (added {:?}, removed {:?})",
            report.routes,
            report.webhooks,
            report.webhooks_added,
            report.webhooks_removed
        );
        Ok(report)
    }

    fn hand_out(&mut self, message: Publish) {
        fail::fail_point!("registry-handle");
        ActorHealth::count(&self.health.received);
        let Publish { event, tickets } = message;
        for ticket in tickets {
            let route = self.table.route(ticket.subscriber);
            let Some(deliver) = route.and_then(|r| r.actor.as_ref()).map(|a| &a.deliver) else {
                log::error!(
                    "event {}: no running actor for {}; its delivery waits in the journal",
                    event.id,
                    ticket.subscriber
                );
                self.handback.give_back(&[ticket]);
                continue;
            };
            let message = Deliver {
                ticket,
                event: event.clone(),
            };
            if let Err(error) = deliver.try_send(message) {
                let message = error.into_inner();
                log::warn!(
                    "{}: event {} not handed over (mailbox full); it waits in the journal",
                    message.ticket.subscriber,
                    event.id
                );
                self.handback.give_back(&[message.ticket]);
            }
        }
        ActorHealth::count(&self.health.delivered);
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.health.set_restarting(false);
    }
}

impl Supervised for RegistryActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("registry: restarted by its supervisor");
    }
}

impl Handler<Publish> for RegistryActor {
    type Result = ();

    fn handle(&mut self, message: Publish, ctx: &mut Self::Context) {
        let health = self.health.clone();
        let tickets = message.tickets.clone();
        if guarded(&health, ctx, |_| self.hand_out(message)).is_none() {
            // The tickets of a panicked hand-out go back to the journal.
            self.handback.give_back(&tickets);
        }
    }
}

impl Handler<SetEnabled> for RegistryActor {
    type Result = ResponseActFuture<Self, Result<(), SwitchError>>;

    fn handle(&mut self, message: SetEnabled, _ctx: &mut Self::Context) -> Self::Result {
        let Some(route) = self.table.route(&message.id) else {
            return Box::pin(actix::fut::ready(Err(SwitchError::UnknownSubscriber(
                message.id,
            ))));
        };
        let id = route.id;
        let setting = SubscriberSetting {
            subscriber: id.to_owned(),
            enabled: i16::from(message.enabled),
            changed_at: self.clock.now_ms(),
            changed_by: message.by.clone(),
        };
        let journal = self.journal.clone();
        let stored = async move { journal.save_switch(setting).await };
        Box::pin(stored.into_actor(self).map(move |result, actor, _ctx| {
            result.map_err(SwitchError::Storage)?;
            actor.apply_switch(id, message.enabled);
            actor.publish_table();
            log::info!(
                "{id}: switched {} by {}",
                if message.enabled { "on" } else { "off" },
                message.by
            );
            Ok(())
        }))
    }
}

impl Handler<ApplyStoredSwitches> for RegistryActor {
    type Result = ();

    fn handle(&mut self, message: ApplyStoredSwitches, _ctx: &mut Self::Context) {
        let mut changed = false;
        for setting in message.0 {
            let enabled = setting.enabled != 0;
            let known = self.switches.get(setting.subscriber.as_str()).copied();
            if known == Some(enabled) {
                continue;
            }
            if self.apply_switch(&setting.subscriber, enabled) {
                changed = true;
                log::info!(
                    "{}: switched {} by {} (stored)",
                    setting.subscriber,
                    if enabled { "on" } else { "off" },
                    setting.changed_by
                );
            }
        }
        if changed {
            self.publish_table();
        }
    }
}

impl Handler<SetOwnership> for RegistryActor {
    type Result = ();

    fn handle(&mut self, message: SetOwnership, _ctx: &mut Self::Context) {
        let owned: HashSet<&str> = message.0.iter().map(String::as_str).collect();
        let mut gained = Vec::new();
        let mut lost = Vec::new();
        for route in &mut self.table.routes {
            let now = owned.contains(route.id);
            if route.owned != now {
                route.owned = now;
                if now {
                    gained.push(route.id);
                } else {
                    lost.push(route.id);
                }
            }
        }
        if !gained.is_empty() || !lost.is_empty() {
            log::info!(
                "registry: now delivering for {}; gave up {}",
                list(&gained),
                list(&lost)
            );
            self.publish_table();
        }
        // A subscriber just taken over may have work waiting (a departed
        // owner's, or accepted elsewhere): claimed now, not at a tick. After
        // the table is out, so the sweeper sees it owned.
        for route in self.table.routes.iter().filter(|r| gained.contains(&r.id)) {
            if route.is_active_here() {
                route.slots.work_waits();
            }
        }
    }
}

fn list(ids: &[&str]) -> String {
    if ids.is_empty() {
        "nothing".to_owned()
    } else {
        ids.join(", ")
    }
}

impl Handler<ApplySilences> for RegistryActor {
    type Result = ();

    fn handle(&mut self, message: ApplySilences, _ctx: &mut Self::Context) {
        if self
            .silences_as_of
            .is_some_and(|applied| message.as_of < applied)
        {
            return;
        }
        self.silences_as_of = Some(message.as_of);
        let silences: Vec<Silence> = message
            .silences
            .iter()
            .filter_map(|row| {
                row.to_silence()
                    .map_err(|error| log::warn!("registry: {error}; not applied"))
                    .ok()
            })
            .collect();
        let same = |a: &Silence, b: &Silence| {
            a.id == b.id && a.starts_at == b.starts_at && a.ends_at == b.ends_at
        };
        let unchanged = silences.len() == self.table.silences.len()
            && silences
                .iter()
                .zip(self.table.silences.silences())
                .all(|(a, b)| same(a, b));
        if unchanged {
            return;
        }
        // Compiled here, once per change, never per event.
        match SilenceSet::new(silences) {
            Ok(set) => {
                self.table.silences = Arc::new(set);
                self.publish_table();
            }
            Err(error) => log::error!("registry: {error}; the silences in force stay"),
        }
    }
}

impl Handler<Reload> for RegistryActor {
    type Result = Result<ReloadReport, ConfigError>;

    fn handle(&mut self, message: Reload, _ctx: &mut Self::Context) -> Self::Result {
        self.reload(message.0)
    }
}

/// Maps ids and the Python service's module names to ids; an unknown name
/// is a start-up error listing the valid ids.
pub fn disabled_ids(
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
             application-endpoint, database, detectify, flottsbro, lighthouse, slack-deployment, slack-error, \
             slack-recommendation, uptimerobot"
        );
    }
}

//! The coordinator: every [`COORDINATE_EVERY`] it writes this replica's
//! heartbeat, renews and rebalances which subscribers it delivers for, and
//! applies on/off switches another replica stored, so an admin's toggle
//! reaches every replica within a few seconds. On one SQLite node it still
//! runs; it simply owns everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, WrapFuture};

use super::health::{ActorHealth, now_ms};
use super::messages::SetEnabled;
use super::ownership::Ownership;
use super::registry::RegistryActor;
use crate::store::journal::Journal;
use crate::store::models::replicas::{self, ReplicaRow};
use crate::store::models::subscriber_settings;

pub const COORDINATE_EVERY: Duration = Duration::from_secs(1);

pub struct CoordinatorActor {
    journal: Journal,
    me: ReplicaRow,
    ownership: Arc<Ownership>,
    registry: Addr<RegistryActor>,
    /// The switches as last applied, by subscriber.
    switches: HashMap<String, bool>,
    busy: bool,
    single_node: bool,
    health: Arc<ActorHealth>,
}

impl CoordinatorActor {
    pub fn new(
        journal: Journal,
        host: String,
        ownership: Arc<Ownership>,
        registry: Addr<RegistryActor>,
        switches: HashMap<String, bool>,
        single_node: bool,
        health: Arc<ActorHealth>,
    ) -> Self {
        let now = now_ms();
        CoordinatorActor {
            me: ReplicaRow {
                id: journal.owner().to_owned(),
                host,
                started_at: now,
                heartbeat_at: now,
            },
            journal,
            ownership,
            registry,
            switches,
            busy: false,
            single_node,
            health,
        }
    }

    fn coordinate(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let journal = self.journal.clone();
        let me = self.me.clone();
        let ids = self.ownership.ids();
        let lease_ms = journal.lease().as_millis() as i64;
        let single_node = self.single_node;
        let round = async move {
            journal
                .write(move |c| {
                    let coordination =
                        replicas::coordinate(c, &me, &ids, now_ms(), lease_ms, single_node)?;
                    let switches = subscriber_settings::all(c)?;
                    Ok((coordination, switches))
                })
                .await
        };
        ctx.spawn(round.into_actor(self).map(|result, actor, _| {
            actor.busy = false;
            match result {
                Ok((coordination, switches)) => {
                    ActorHealth::count(&actor.health.delivered);
                    let (gained, lost) = actor.ownership.set(&coordination.owned);
                    if !gained.is_empty() || !lost.is_empty() {
                        log::info!(
                            "coordinator: {} live replica(s); now delivering for {}; gave up {}",
                            coordination.live_replicas,
                            list(&gained),
                            list(&lost)
                        );
                    }
                    for setting in switches {
                        let enabled = setting.enabled != 0;
                        if actor.switches.get(&setting.subscriber) != Some(&enabled) {
                            log::info!(
                                "coordinator: {} switched {} by {}",
                                setting.subscriber,
                                if enabled { "on" } else { "off" },
                                setting.changed_by
                            );
                            actor.switches.insert(setting.subscriber.clone(), enabled);
                            actor.registry.do_send(SetEnabled {
                                id: setting.subscriber,
                                enabled,
                            });
                        }
                    }
                }
                Err(error) => {
                    ActorHealth::count(&actor.health.failed);
                    actor
                        .health
                        .record_error(format!("coordination failed: {error}"));
                    log::warn!("coordinator: a round failed: {error}");
                }
            }
        }));
    }
}

fn list(ids: &[&str]) -> String {
    if ids.is_empty() {
        "nothing".to_owned()
    } else {
        ids.join(", ")
    }
}

impl Actor for CoordinatorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.coordinate(ctx);
        ctx.run_interval(COORDINATE_EVERY, |actor, ctx| actor.coordinate(ctx));
    }
}

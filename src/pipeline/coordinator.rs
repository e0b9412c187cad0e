//! The coordinator: every [`COORDINATE_EVERY`] it writes this replica's
//! heartbeat, renews and rebalances which subscribers it delivers for, and
//! reads the stored on/off switches, and tells the registry (the routing
//! table's owner) what changed — so an admin's toggle on one replica
//! reaches every replica within a few seconds. On one SQLite node it still
//! runs; it simply owns everything. Its heartbeat is also the write that
//! tells readiness, when nothing else is written, whether commits succeed.

use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, SpawnHandle, Supervised,
    WrapFuture,
};

use super::messages::{ApplySilences, ApplyStoredSwitches, Quiesce, SetOwnership};
use super::presence::Presence;
use super::registry::RegistryActor;
use super::routing::{Routing, current};
use crate::clock::SharedClock;
use crate::engine::ActorHealth;
use crate::engine::guard::guarded;
use crate::store::journal::{Coordinated, CoordinationRound, Journal};
use crate::store::models::replicas::ReplicaRow;

pub const COORDINATE_EVERY: Duration = Duration::from_secs(1);

pub struct CoordinatorActor {
    journal: Journal,
    me: ReplicaRow,
    /// The subscribers to share out are the routing table's (a reload may
    /// declare more).
    routing: Routing,
    registry: Addr<RegistryActor>,
    busy: bool,
    single_node: bool,
    /// PostgreSQL: whether this replica's presence lock is held, written
    /// into its row each round.
    presence: Option<Presence>,
    health: Arc<ActorHealth>,
    ticking: Option<SpawnHandle>,
    quiet: bool,
}

/// This replica, as the coordinator writes it into the database.
pub struct ThisReplica {
    /// Shown in the admin API's replica list.
    pub host: String,
    /// SQLite: the only node.
    pub single_node: bool,
    /// PostgreSQL: its presence session.
    pub presence: Option<Presence>,
}

impl CoordinatorActor {
    pub fn new(
        journal: Journal,
        replica: ThisReplica,
        routing: Routing,
        registry: Addr<RegistryActor>,
        clock: &SharedClock,
        health: Arc<ActorHealth>,
    ) -> Self {
        let ThisReplica {
            host,
            single_node,
            presence,
        } = replica;
        let now = clock.now_ms();
        CoordinatorActor {
            me: ReplicaRow {
                id: journal.owner().to_owned(),
                host,
                started_at: now,
                heartbeat_at: now,
                presence: None,
            },
            journal,
            routing,
            registry,
            busy: false,
            single_node,
            presence,
            health,
            ticking: None,
            quiet: false,
        }
    }

    fn coordinate(&mut self, ctx: &mut Context<Self>) {
        fail::fail_point!("coordinator-round");
        if self.busy {
            return;
        }
        self.busy = true;
        let journal = self.journal.clone();
        self.me.presence = self.presence.as_ref().and_then(Presence::held_key);
        let round = CoordinationRound {
            me: self.me.clone(),
            subscribers: current(&self.routing).routes.iter().map(|r| r.id).collect(),
            lease_ms: journal.lease().as_millis() as i64,
            single_node: self.single_node,
        };
        let as_of = std::time::Instant::now();
        let round = async move { journal.coordinate(round).await };
        ctx.spawn(round.into_actor(self).map(move |result, actor, _| {
            actor.busy = false;
            match result {
                Ok(coordinated) => {
                    ActorHealth::count(&actor.health.delivered);
                    ActorHealth::count(&actor.health.rounds);
                    if !actor.quiet {
                        let Coordinated {
                            coordination,
                            switches,
                            silences,
                        } = coordinated;
                        actor.registry.do_send(SetOwnership(coordination.owned));
                        actor.registry.do_send(ApplyStoredSwitches(switches));
                        actor.registry.do_send(ApplySilences { silences, as_of });
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

impl Actor for CoordinatorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.health.set_restarting(false);
        self.busy = false;
        if self.quiet {
            return;
        }
        let health = self.health.clone();
        guarded(&health, ctx, |ctx| self.coordinate(ctx));
        self.ticking = Some(ctx.run_interval(COORDINATE_EVERY, |actor, ctx| {
            let health = actor.health.clone();
            guarded(&health, ctx, |ctx| actor.coordinate(ctx));
        }));
    }
}

impl Supervised for CoordinatorActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("coordinator: restarted by its supervisor");
    }
}

impl Handler<Quiesce> for CoordinatorActor {
    type Result = ();

    fn handle(&mut self, _: Quiesce, ctx: &mut Self::Context) {
        self.quiet = true;
        if let Some(ticking) = self.ticking.take() {
            ctx.cancel_future(ticking);
        }
    }
}

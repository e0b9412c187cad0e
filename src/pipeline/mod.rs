//! The actors an event passes through: intake (record, answer 202) →
//! enricher → registry → one supervised actor per subscriber. The sweeper
//! feeds the same path with deliveries read back from the journal
//! (retries, recovery after a restart, and whatever did not fit in memory).

pub mod coordinator;
pub mod enricher;
pub mod health;
pub mod intake;
pub mod messages;
pub mod metrics;
pub mod ownership;
pub mod registry;
pub mod retry;
pub mod slots;
pub mod sweeper;

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Actor, Addr};

use crate::config::{ConfigError, Settings};
use crate::store::journal::{Journal, Ticket};
use crate::subscribers::Registration;
use coordinator::CoordinatorActor;
use enricher::EnricherActor;
use health::{ActorHealth, HealthBoard, now_ms};
use intake::IntakeActor;
use ownership::Ownership;
use registry::{RegistryActor, WatchTargets};
use slots::Slots;
use sweeper::{SweeperActor, SweptSubscriber};

/// The running pipeline: the intake address routes send to, the registry
/// admin routes talk to, and every actor's health.
pub struct Pipeline {
    pub intake: Addr<IntakeActor>,
    pub registry: Addr<RegistryActor>,
    enricher: Addr<EnricherActor>,
    sweeper: Addr<SweeperActor>,
    coordinator: Addr<CoordinatorActor>,
    pub health: HealthBoard,
    journal: Journal,
    drains: Vec<actix::Recipient<messages::Drain>>,
    // Kept so the subscribers' threads stop with the pipeline.
    subscriber_arbiters: Vec<actix::Arbiter>,
}

impl Pipeline {
    /// Starts every actor. Must run inside the actix system.
    pub fn start(
        settings: &Settings,
        journal: Journal,
        journal_health: Arc<ActorHealth>,
        registrations: &[Registration],
        switches: &HashMap<String, bool>,
        replica: ReplicaSetup,
    ) -> Result<Self, ConfigError> {
        let mut health = HealthBoard::default();
        let intake_health = ActorHealth::new("intake", "intake");
        let enricher_health = ActorHealth::new("enricher", "enricher");
        let registry_health = ActorHealth::new("registry", "registry");
        let sweeper_health = ActorHealth::new("sweeper", "sweeper");
        let coordinator_health = ActorHealth::new("coordinator", "coordinator");
        for actor in [
            &intake_health,
            &enricher_health,
            &registry_health,
            &sweeper_health,
            &coordinator_health,
            &journal_health,
        ] {
            health.add(actor.clone());
        }

        let mut started = registry::start_subscribers(settings, &journal, registrations, switches)?;
        let drains = std::mem::take(&mut started.drains);
        for subscriber in &started.entries {
            health.add(subscriber.health.clone());
        }
        let ids: Vec<&'static str> = registrations.iter().map(|r| r.id).collect();
        // One SQLite node owns everything; replicas on PostgreSQL wait for
        // the coordinator to hand them their share.
        let ownership = Arc::new(Ownership::new(&ids, replica.single_node));
        let handback = Handback::new(journal.clone(), &started.entries);
        let targets = registry::targets(&started.entries);
        let swept = started
            .entries
            .iter()
            .filter(|entry| entry.target.is_some())
            .map(|entry| SweptSubscriber {
                id: entry.id,
                slots: entry.slots.clone(),
                health: entry.health.clone(),
            })
            .collect();
        let registry =
            RegistryActor::new(started.entries, handback.clone(), registry_health).start();
        let enricher = EnricherActor::new(
            settings.enrichment.clone(),
            registry.clone(),
            handback.clone(),
            enricher_health,
        )
        .start();
        let sweeper = SweeperActor::new(
            journal.clone(),
            enricher.clone(),
            swept,
            ownership.clone(),
            sweeper_health,
        )
        .start();
        let coordinator = CoordinatorActor::new(
            journal.clone(),
            replica.host,
            ownership.clone(),
            registry.clone(),
            switches.clone(),
            replica.single_node,
            coordinator_health,
        )
        .start();
        let intake = IntakeActor::new(
            journal.clone(),
            enricher.clone(),
            handback,
            targets,
            ownership,
            intake_health,
        )
        .start();
        registry.do_send(WatchTargets(intake.clone().recipient()));
        Ok(Pipeline {
            intake,
            registry,
            enricher,
            sweeper,
            coordinator,
            health,
            journal,
            drains,
            subscriber_arbiters: started.arbiters,
        })
    }
}

impl Pipeline {
    /// Graceful shutdown: no new claims, running deliveries get until
    /// `grace` to finish, the rest goes back to the journal (due now, so the
    /// next start takes it up at once), and every outcome is committed.
    pub async fn shut_down(&self, grace: std::time::Duration) {
        self.sweeper.do_send(Stop);
        self.coordinator.do_send(Stop);
        self.intake.do_send(Stop);
        let until = std::time::Instant::now() + grace;
        let drains = self
            .drains
            .iter()
            .map(|drain| drain.send(messages::Drain { until }));
        let given_back: usize = futures_util::future::join_all(drains)
            .await
            .into_iter()
            .map(|answer| answer.unwrap_or(0))
            .sum();
        let me = self.journal.owner().to_owned();
        match self
            .journal
            .write(move |c| crate::store::models::replicas::leave(c, &me))
            .await
        {
            Ok(handed_over) if handed_over > 0 => {
                log::info!("shutdown: {handed_over} subscribers handed to the other replicas")
            }
            Ok(_) => {}
            Err(error) => log::error!("shutdown: the journal could not be flushed: {error}"),
        }
        log::info!(
            "shutdown: {given_back} unfinished deliveries left in the journal for the next start"
        );
        self.stop();
    }

    /// Stops the core actors (the sweeper first, so nothing new is claimed)
    /// and the subscribers; the journal writer ends when the last handle is
    /// gone. What was not finished stays in the journal for the next start.
    pub fn stop(&self) {
        self.sweeper.do_send(Stop);
        self.coordinator.do_send(Stop);
        self.intake.do_send(Stop);
        self.enricher.do_send(Stop);
        self.registry.do_send(Stop);
    }
}

/// Stops a core actor.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Stop;

macro_rules! stoppable {
    ($($actor:ty),*) => {
        $(
            impl actix::Handler<Stop> for $actor {
                type Result = ();
                fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
                    actix::ActorContext::stop(ctx);
                }
            }
        )*
    };
}

stoppable!(
    IntakeActor,
    EnricherActor,
    RegistryActor,
    SweeperActor,
    CoordinatorActor
);

impl Drop for Pipeline {
    fn drop(&mut self) {
        for arbiter in &self.subscriber_arbiters {
            arbiter.stop();
        }
    }
}

/// Who this replica is.
pub struct ReplicaSetup {
    /// Shown in the admin API's replica list.
    pub host: String,
    /// SQLite: the only node, owning every subscriber from the start.
    pub single_node: bool,
}

/// Gives deliveries that could not be handed on back to the journal (due
/// now, no attempt charged) and frees their slots.
#[derive(Clone)]
pub struct Handback {
    journal: Journal,
    slots: Arc<HashMap<&'static str, Arc<Slots>>>,
}

impl Handback {
    fn new(journal: Journal, entries: &[registry::SubscriberEntry]) -> Self {
        Handback {
            journal,
            slots: Arc::new(entries.iter().map(|e| (e.id, e.slots.clone())).collect()),
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn give_back(&self, tickets: &[Ticket]) {
        let now = now_ms();
        for ticket in tickets {
            self.journal.release(ticket, now);
            self.free_slot(ticket.subscriber);
        }
    }

    pub fn free_slot(&self, subscriber: &str) {
        if let Some(slots) = self.slots.get(subscriber) {
            slots.give_back(1);
        }
    }
}

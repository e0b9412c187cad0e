//! The actors an event passes through, as the client's design fixes them:
//! the HTTP routes hand it to the intake actor (`intake.rs`), which asks
//! the enricher (`enricher.rs`) to enrich it, plan its deliveries from the
//! routing table, record it and publish it to the registry
//! (`registry.rs`), which hands each delivery to its subscriber's
//! supervised actor (the engine's). The sweeper feeds the registry with
//! deliveries read back from the journal (retries, recovery after a
//! restart, and whatever did not fit in memory); the coordinator keeps the
//! replicas' ownership and stored switches in step; the digest
//! (`digest.rs`, when configured) offers each team's weekly digest to
//! intake. Every core actor runs under an actix `Supervisor`: a panic
//! restarts it.

pub mod alerts;
pub mod coordinator;
pub mod digest;
pub mod enricher;
mod handback;
pub mod health;
pub mod intake;
pub mod messages;
pub mod metrics;
pub mod presence;
pub mod registry;
pub mod routing;
pub mod sweeper;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Addr, Supervisor};
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::config::{ConfigError, OperatorConfig, OperatorView, Redactor, Settings};
use crate::domain::history::DeploymentHistory;
use crate::engine::rate_limit::Limiter;
use crate::engine::slots::Slots;
use crate::engine::{
    ActorHealth, ActorLimits, ActorParts, Drain, Registration, RetryPolicy, Role, Services, Setup,
    StartedActor,
};
use crate::slack::SlackClient;
use crate::store::journal::Journal;
use coordinator::CoordinatorActor;
use enricher::EnricherActor;
pub use handback::Handback;
use health::HealthBoard;
use intake::IntakeActor;
use messages::Quiesce;
use registry::{RegistryActor, TableOwner};
use routing::{Route, Routing, RoutingTable, Switch, current};
use sweeper::SweeperActor;

/// How long after the grace a subscriber actor may take to answer the
/// shutdown (giving its deliveries back) before it is left behind.
const DRAIN_ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// The running pipeline: the intake address routes send to, the registry
/// admin routes talk to, the routing table and every actor's health.
pub struct Pipeline {
    pub intake: Addr<IntakeActor>,
    pub registry: Addr<RegistryActor>,
    enricher: Addr<EnricherActor>,
    sweeper: Addr<SweeperActor>,
    coordinator: Addr<CoordinatorActor>,
    /// When `DIGEST_CHANNELS` is set.
    digest: Option<Addr<digest::DigestActor>>,
    pub health: HealthBoard,
    pub routing: Routing,
    /// The one Slack client, when Slack is configured (its shared channel
    /// pace shows in the admin API).
    pub slack: Option<Arc<SlackClient>>,
    /// Reads the operator file again and hands it to the registry.
    pub reloader: Reloader,
    journal: Journal,
}

/// Who this replica is.
pub struct ReplicaSetup {
    /// Shown in the admin API's replica list.
    pub host: String,
    /// SQLite: the only node, owning every subscriber from the start.
    pub single_node: bool,
    /// PostgreSQL: where the replica's presence and wake-up session connects.
    pub presence_url: Option<crate::config::Secret<String>>,
}

/// What the pipeline is built from.
pub struct PipelineParts<'a> {
    pub settings: Arc<Settings>,
    pub journal: Journal,
    pub journal_health: Arc<ActorHealth>,
    /// The built-in subscribers.
    pub registrations: &'a [Registration],
    /// The subscribers an operator file declares (its webhooks).
    pub declared: DeclaredSubscribers,
    /// The deployment history, as subscribers read it.
    pub history: Arc<dyn DeploymentHistory>,
    /// The switches admins stored, by subscriber.
    pub switches: HashMap<String, bool>,
    pub replica: ReplicaSetup,
    /// Where the digest reads its figures.
    pub figures: crate::store::DbPool,
    pub clock: SharedClock,
}

impl Pipeline {
    /// Starts every actor. Must run inside the actix system.
    pub fn start(parts: PipelineParts<'_>) -> Result<Self, ConfigError> {
        let PipelineParts {
            settings,
            journal,
            journal_health,
            registrations,
            declared,
            history,
            switches,
            replica,
            figures,
            clock,
        } = parts;
        let core = |id: &str, role| ActorHealth::new(id, role, clock.clone());
        let intake_health = core("intake", Role::Intake);
        let enricher_health = core("enricher", Role::Enricher);
        let registry_health = core("registry", Role::Registry);
        let sweeper_health = core("sweeper", Role::Sweeper);
        let coordinator_health = core("coordinator", Role::Coordinator);
        let core_healths = vec![
            intake_health.clone(),
            enricher_health.clone(),
            registry_health.clone(),
            sweeper_health.clone(),
            coordinator_health.clone(),
            journal_health,
        ];

        let slack = SlackClient::from_settings(&settings, clock.clone())?;
        let alerts = start_alerts(&settings, slack.as_ref(), &replica, &clock);
        // The routing table carries the operator configuration to every
        // reader, subscribers included: one channel.
        let (publisher, routing) = watch::channel(Arc::new(RoutingTable {
            operator: settings.operator.clone(),
            ..RoutingTable::default()
        }));
        let operator_view =
            OperatorView::following(routing.clone(), |table| table.operator.clone());
        let config = &settings.subscribers;
        let mut services = Services::default();
        if let Some(slack) = &slack {
            services.insert(slack.clone());
        }
        // A slot coming back to a subscriber with a backlog wakes the sweeper.
        let backlog_wake = Arc::new(tokio::sync::Notify::new());
        let launcher = SubscriberLauncher {
            settings: settings.clone(),
            backlog_wake: backlog_wake.clone(),
            journal: journal.clone(),
            services,
            dead_letters: alerts.as_ref().map(|(addr, _)| addr.clone().recipient()),
            clock: clock.clone(),
            operator: operator_view,
            history,
            limits: ActorLimits {
                concurrency: config.concurrency,
                timeout: Duration::from_secs(config.timeout_seconds),
                circuit_failures: config.circuit_failures,
                circuit_cooldown: Duration::from_secs(config.circuit_cooldown_seconds),
            },
            policy: RetryPolicy::from_config(config),
            single_node: replica.single_node,
        };
        let mut all: Vec<Registration> = registrations.to_vec();
        all.extend(declared(&settings.operator));
        let table = launcher.launch_all(&all, &switches)?;
        let digest_health = (settings.digest.is_some()).then(|| core("digest", Role::Digest));
        let extra_healths: Vec<_> = alerts
            .iter()
            .map(|(_, health)| health.clone())
            .chain(digest_health.clone())
            .collect();
        publisher.send_replace(Arc::new(table.clone()));
        let handback = Handback::new(journal.clone(), routing.clone(), clock.clone());
        let health = HealthBoard::new(
            core_healths,
            extra_healths,
            routing.clone(),
            journal.status().clone(),
        );
        if let Some((alerts, _)) = &alerts {
            alerts.do_send(alerts::WatchHealth(health.clone()));
        }

        let registry = {
            let (journal, handback, clock) = (journal.clone(), handback.clone(), clock.clone());
            let owner = TableOwner {
                publisher,
                launcher,
                declared,
            };
            Supervisor::start(move |_| {
                RegistryActor::new(table, owner, journal, handback, clock, registry_health)
            })
        };
        let enricher = {
            let (enrichment, routing, journal, registry, handback) = (
                settings.enrichment.clone(),
                routing.clone(),
                journal.clone(),
                registry.clone(),
                handback.clone(),
            );
            Supervisor::start(move |_| {
                EnricherActor::new(
                    enrichment,
                    routing,
                    journal,
                    registry,
                    handback,
                    enricher_health,
                )
            })
        };
        let sweeper = {
            let (journal, registry, routing) = (journal.clone(), registry.clone(), routing.clone());
            Supervisor::start(move |_| {
                SweeperActor::new(
                    journal,
                    registry,
                    routing,
                    handback,
                    backlog_wake.clone(),
                    sweeper_health,
                )
            })
        };
        let presence = presence::Presence::open(
            replica.presence_url,
            journal.owner(),
            &routing,
            &coordinator_health,
        );
        let coordinator = {
            let (journal, registry, clock) = (journal.clone(), registry.clone(), clock.clone());
            let routing = routing.clone();
            Supervisor::start(move |_| {
                CoordinatorActor::new(
                    journal,
                    coordinator::ThisReplica {
                        host: replica.host.clone(),
                        single_node: replica.single_node,
                        presence: presence.clone(),
                    },
                    routing,
                    registry,
                    &clock,
                    coordinator_health,
                )
            })
        };
        let intake = {
            let (enricher, clock) = (enricher.clone(), clock.clone());
            Supervisor::start(move |_| IntakeActor::new(enricher, clock, intake_health))
        };
        // Offered by every replica; the journal keeps one per team and week.
        let digest = settings
            .digest
            .clone()
            .zip(digest_health)
            .map(|(config, health)| {
                digest::start(digest::DigestParts {
                    config,
                    failure_window_hours: settings.insights.failure_window_hours,
                    pool: figures,
                    intake: intake.clone(),
                    clock: clock.clone(),
                    health,
                })
            });
        let reloader = Reloader {
            path: settings.operator.source.clone(),
            env: settings.env.clone(),
            registry: registry.clone(),
            one_at_a_time: Default::default(),
        };
        Ok(Pipeline {
            reloader,
            intake,
            registry,
            enricher,
            sweeper,
            coordinator,
            digest,
            health,
            routing,
            slack,
            journal,
        })
    }

    /// Every subscriber actor started so far (declared ones included).
    fn subscriber_actors(&self) -> Vec<(&'static str, StartedActor)> {
        current(&self.routing)
            .routes
            .iter()
            .filter_map(|route| route.actor.clone().map(|actor| (route.id, actor)))
            .collect()
    }

    /// A core or subscriber actor that no longer takes messages (its thread
    /// died: its supervisor could not restart it). The process must end so
    /// that the orchestrator starts a new one.
    pub fn dead_actor(&self) -> Option<String> {
        let core = [
            ("intake", self.intake.connected()),
            ("enricher", self.enricher.connected()),
            ("registry", self.registry.connected()),
            ("sweeper", self.sweeper.connected()),
            ("coordinator", self.coordinator.connected()),
        ];
        if let Some((id, _)) = core.iter().find(|(_, alive)| !alive) {
            return Some(format!("the {id} actor died"));
        }
        if self
            .digest
            .as_ref()
            .is_some_and(|digest| !digest.connected())
        {
            return Some("the digest actor died".to_owned());
        }
        self.subscriber_actors()
            .into_iter()
            .find(|(_, actor)| !actor.is_alive())
            .map(|(id, _)| format!("the {id} actor died"))
    }

    /// Graceful shutdown: no new claims or events, running deliveries get
    /// until `grace` to finish, the rest goes back to the journal (due now,
    /// so the next start takes it up at once), and every outcome is
    /// committed.
    pub async fn shut_down(&self, grace: Duration) {
        self.quiesce();
        let until = Instant::now() + grace;
        let actors = self.subscriber_actors();
        // An actor whose thread is stuck never answers: it is not waited
        // for past the grace (its deliveries stay leased, and are redone
        // once the lease runs out).
        let answer_by = tokio::time::Instant::from_std(until + DRAIN_ANSWER_MARGIN);
        let drains = actors.iter().map(|(id, actor)| async move {
            match tokio::time::timeout_at(answer_by, actor.drain.send(Drain { until })).await {
                Ok(answer) => answer.unwrap_or(0),
                Err(_) => {
                    log::error!(
                        "shutdown: {id} did not answer within the grace (a delivery is stuck on its thread); leaving it"
                    );
                    0
                }
            }
        });
        let given_back: usize = futures_util::future::join_all(drains)
            .await
            .into_iter()
            .sum();
        match self.journal.leave().await {
            Ok(handed_over) if handed_over > 0 => {
                log::info!("shutdown: {handed_over} subscribers handed to the other replicas")
            }
            Ok(_) => {}
            Err(error) => log::error!("shutdown: the journal could not be flushed: {error}"),
        }
        log::info!(
            "shutdown: {given_back} unfinished deliveries left in the journal for the next start"
        );
    }

    /// Takes no new work anywhere: the sweeper and coordinator stop
    /// ticking, intake refuses. (Supervised actors are not stopped: their
    /// supervisor would restart them.)
    pub fn quiesce(&self) {
        self.sweeper.do_send(Quiesce);
        self.coordinator.do_send(Quiesce);
        self.intake.do_send(Quiesce);
        self.enricher.do_send(Quiesce);
        if let Some(digest) = &self.digest {
            digest.do_send(Quiesce);
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.quiesce();
        for (_, actor) in self.subscriber_actors() {
            actor.arbiter.stop();
        }
    }
}

/// The actor that announces dead letters and open circuits, when
/// `ALERT_CHANNEL` is set (the configuration made sure Slack is then).
fn start_alerts(
    settings: &Settings,
    slack: Option<&Arc<SlackClient>>,
    replica: &ReplicaSetup,
    clock: &SharedClock,
) -> Option<(Addr<alerts::AlertActor>, Arc<ActorHealth>)> {
    let channel = settings.alerts.channel.clone()?;
    let slack = slack?.clone();
    let console = settings
        .alerts
        .public_url
        .as_ref()
        .map(|url| url.as_str().to_owned())
        .unwrap_or_else(|| format!("http://{}", replica.host));
    let window = Duration::from_secs(settings.alerts.after_seconds);
    let timeout = Duration::from_secs(settings.subscribers.timeout_seconds);
    let health = ActorHealth::new("alerts", Role::Alerts, clock.clone());
    let (clock, actor_health) = (clock.clone(), health.clone());
    let addr = Supervisor::start(move |_| {
        alerts::AlertActor::new(
            slack,
            channel,
            console,
            window,
            timeout,
            clock,
            actor_health,
        )
    });
    Some((addr, health))
}

/// Makes the registrations of the subscribers an operator file declares.
pub type DeclaredSubscribers = fn(&OperatorConfig) -> Vec<Registration>;

/// Starts subscriber actors: every one at start-up, and those a reload
/// declares (the registry keeps it for that).
#[derive(Clone)]
pub struct SubscriberLauncher {
    settings: Arc<Settings>,
    backlog_wake: Arc<tokio::sync::Notify>,
    journal: Journal,
    services: Services,
    dead_letters: Option<actix::Recipient<crate::engine::DeadLettered>>,
    clock: SharedClock,
    operator: OperatorView,
    history: Arc<dyn DeploymentHistory>,
    limits: ActorLimits,
    policy: RetryPolicy,
    single_node: bool,
}

impl SubscriberLauncher {
    /// Resolves `DISABLED_SUBSCRIBERS` and starts an actor for every
    /// configured subscriber (disabled ones too, so that they can be
    /// switched on); answers the first routing table.
    fn launch_all(
        &self,
        registrations: &[Registration],
        switches: &HashMap<String, bool>,
    ) -> Result<RoutingTable, ConfigError> {
        let disabled =
            registry::disabled_ids(&self.settings.subscribers.disabled.0, registrations)?;
        let mut table = RoutingTable {
            operator: self.settings.operator.clone(),
            ..RoutingTable::default()
        };
        for registration in registrations {
            // A switch an admin set wins; DISABLED_SUBSCRIBERS is the default.
            let enabled = switches
                .get(registration.id)
                .copied()
                .unwrap_or(!disabled.contains(registration.id));
            table.routes.push(self.launch(registration, enabled)?);
        }
        Ok(table)
    }

    /// Starts one subscriber's actor when it is configured; answers its row.
    pub fn launch(&self, registration: &Registration, enabled: bool) -> Result<Route, ConfigError> {
        let settings = &self.settings;
        let config = &settings.subscribers;
        let health = ActorHealth::new(registration.id, Role::Subscriber, self.clock.clone());
        let slots = Arc::new(Slots::new(config.queue_capacity, self.backlog_wake.clone()));
        let limiter = Arc::new(Limiter::new(
            registration.id,
            config.rate_limits.resolve(
                registration.id,
                registration.rate_group,
                registration.default_rate_limit,
            ),
            config.rate_limit_destinations,
            self.clock.clone(),
        ));
        let operator = self.operator.borrow().clone();
        let setup = Setup {
            settings,
            journal: Some(&self.journal),
            services: &self.services,
            clock: &self.clock,
            health: &health,
            operator: &self.operator,
            history: Some(&self.history),
        };
        let parts = ActorParts {
            limits: self.limits,
            // A declared webhook's URL and secret are secrets too.
            redactor: Arc::new(Redactor::from_env_naming(
                &settings.env,
                &operator.secret_variables(),
            )),
            policy: self.policy.clone(),
            health: health.clone(),
            journal: self.journal.clone(),
            slots: slots.clone(),
            limiter,
            clock: self.clock.clone(),
            dead_letters: self.dead_letters.clone(),
        };
        let actor = registration.start(&setup, parts)?;
        let switch = match (&actor, enabled) {
            (None, _) => Switch::Unconfigured,
            (Some(_), false) => Switch::Off,
            (Some(_), true) => Switch::On,
        };
        log::info!(
            "{}: {}",
            registration.id,
            match switch {
                Switch::Unconfigured => "unconfigured: it skips every event",
                Switch::Off => "disabled",
                Switch::On => "running",
            }
        );
        Ok(Route {
            id: registration.id,
            kinds: registration.kinds,
            switch,
            owned: self.single_node,
            slots,
            health,
            routed: registration.routed,
            declared: registration.declared,
            actor,
        })
    }
}

/// Reads the operator file again (`POST /admin/reload`, SIGHUP) and hands
/// it to the registry; a file that does not validate changes nothing.
/// Reading and validating run on a thread of their own, one reload at a
/// time: the HTTP workers and the signal handling never wait for them.
#[derive(Clone)]
pub struct Reloader {
    path: Option<std::path::PathBuf>,
    env: crate::config::Env,
    registry: Addr<RegistryActor>,
    one_at_a_time: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("there is no configuration file to reload (ALVARES_CONFIG is not set)")]
    NoFile,
    #[error("{0}")]
    Invalid(#[from] crate::config::file::FileError),
    #[error("cannot start the reload: {0}")]
    NoThread(#[source] std::io::Error),
    #[error("the reload stopped unfinished")]
    Unfinished,
    #[error("the registry is restarting; try again")]
    RegistryRestarting(#[source] actix::MailboxError),
    /// A webhook the file adds could not be started.
    #[error("{0}")]
    NotApplied(#[from] ConfigError),
}

impl Reloader {
    pub async fn reload(&self) -> Result<messages::ReloadReport, ReloadError> {
        let path = self.path.clone().ok_or(ReloadError::NoFile)?;
        let _turn = self.one_at_a_time.lock().await;
        log::info!(
            "reload: reading the configuration file again ({})",
            path.display()
        );
        let env = self.env.clone();
        let (loaded, load) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("config-reload".into())
            .spawn(move || {
                fail::fail_point!("config-reload");
                let _ = loaded.send(OperatorConfig::load(&path, &env));
            })
            .map_err(ReloadError::NoThread)?;
        // The thread ended without an answer: it panicked (its panic is logged).
        let config = load.await.map_err(|_| ReloadError::Unfinished)??;
        self.registry
            .send(messages::Reload(config))
            .await
            .map_err(ReloadError::RegistryRestarting)?
            .map_err(ReloadError::NotApplied)
    }
}

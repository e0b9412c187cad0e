//! Builds the application: the store and its journal writer, the pipeline's
//! actors and the HTTP server on a bound listener (port 0 in tests, so each
//! test gets its own), and watches that none of them dies unnoticed.

use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::clock::{SharedClock, SystemClock};
use crate::config::{ConfigError, Settings};
use crate::engine::{ActorHealth, Registration, Role};
use crate::pipeline::health::HealthBoard;
use crate::pipeline::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineParts, ReplicaSetup};
use crate::routes;
use crate::routes::admin::AdminAccess;
use crate::routes::intake::IntakeRoute;
use crate::routes::read_access::ReadAccess;
use crate::routes::state::AppState;
use crate::store::journal::{Journal, JournalSettings};
use crate::store::reads::ReadRoutes;
use crate::store::wal::WalKeeper;
use crate::store::{Backend, Store, StoreError};
use crate::subscribers::registrations;

/// How long requests in flight at a stop signal may take to be answered.
/// Intake answers in milliseconds; with `SHUTDOWN_GRACE_SECONDS` (default
/// 8) the whole stop fits in `docker stop`'s 10 s.
const HTTP_SHUTDOWN_SECONDS: u64 = 1;
/// How often the watchdog looks for a dead actor or writer.
const WATCH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("could not listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}; stopping so that the process is started again")]
    Died(String),
}

/// SIGHUP reloads the operator file, as `POST /admin/reload` does.
fn reload_on_hangup(reloader: crate::pipeline::Reloader) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            log::warn!("SIGHUP cannot be watched ({error}); reload with POST /admin/reload");
            return;
        }
    };
    actix_rt::spawn(async move {
        while hangups.recv().await.is_some() {
            match reloader.reload().await {
                Ok(report) => log::info!(
                    "SIGHUP: configuration reloaded: {} routes, webhooks {:?}",
                    report.routes,
                    report.webhooks
                ),
                Err(error) => log::error!(
                    "SIGHUP: the configuration file was refused, the one in force stays: {error}"
                ),
            }
        }
    });
}

/// SIGTERM and SIGINT stop the HTTP server gracefully; `run_until_stopped`
/// then gives running deliveries their grace. (actix-server's own signal
/// handling would stop the whole actor system 300 ms after the server,
/// cutting the grace short, so it is disabled.) A second signal during
/// the grace ends the process at once: what was running is redone from
/// the journal at the next start.
fn stop_on_signals(handle: actix_web::dev::ServerHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let (terms, interrupts) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(terms), Ok(interrupts)) => (terms, interrupts),
        (Err(error), _) | (_, Err(error)) => {
            log::error!("SIGTERM/SIGINT cannot be watched ({error}); stop with SIGKILL");
            return;
        }
    };
    actix_rt::spawn(async move {
        let (mut terms, mut interrupts) = (terms, interrupts);
        let first = tokio::select! {
            _ = terms.recv() => "SIGTERM",
            _ = interrupts.recv() => "SIGINT",
        };
        log::info!("alvares: {first} received; stopping");
        actix_rt::spawn(handle.stop(true));
        let second = tokio::select! {
            _ = terms.recv() => "SIGTERM",
            _ = interrupts.recv() => "SIGINT",
        };
        log::warn!("alvares: a second {second} received; exiting without waiting for deliveries");
        std::process::exit(1);
    });
}

pub struct Application {
    port: u16,
    /// How long running deliveries may finish at shutdown.
    grace: Duration,
    server: Server,
    pipeline: Pipeline,
    journal: Journal,
    journal_thread: JoinHandle<()>,
    store: Store,
}

impl Application {
    /// The service as `alvares serve` runs it: every registered subscriber,
    /// listening on all interfaces on `PORT`.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let address = format!("0.0.0.0:{}", settings.server.port);
        Self::build_with(settings, registrations(), &address).await
    }

    /// The same application with a chosen subscriber list and address.
    pub async fn build_with(
        settings: Settings,
        registrations: Vec<Registration>,
        address: &str,
    ) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, registrations, address, SystemClock::shared()).await
    }

    /// The same again on a given clock (tests move a manual one).
    pub async fn build_with_clock(
        settings: Settings,
        registrations: Vec<Registration>,
        address: &str,
        clock: SharedClock,
    ) -> Result<Self, StartupError> {
        // Only the ring provider is compiled in; make it the process default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if settings.intake.ingest_token.is_none() {
            log::warn!("INGEST_TOKEN is not set: intake accepts events without credentials");
        }
        let mut store = Store::open(&settings.store)?;
        store.reads.clock = clock.clone();
        let journal_health = ActorHealth::new("journal-writer", Role::Journal, clock.clone());
        let wal = store
            .sqlite_file
            .clone()
            .map(|file| {
                WalKeeper::new(file, Some(store.reads.clone()))
                    .with_checkpointer(store.pool.clone())
            })
            .transpose()
            .map_err(|error| StoreError::Open(format!("cannot start the checkpointer: {error}")))?;
        let (journal, journal_thread) = Journal::start(
            store.writer.clone(),
            store.backend,
            store.sqlite_file.clone(),
            wal,
            JournalSettings {
                lease: Duration::from_secs(settings.store.lease_seconds),
                retention: Duration::from_secs(u64::from(settings.store.retention_days) * 86_400),
                prune_every: Duration::from_secs(60 * 60),
            },
            journal_health.clone(),
            clock.clone(),
        )?;
        let switches = store.subscriber_switches()?;
        let listener = TcpListener::bind(address)?;
        let port = listener.local_addr()?.port();
        let replica = ReplicaSetup {
            host: format!(
                "{}:{port}",
                settings.server.hostname.as_deref().unwrap_or("localhost")
            ),
            single_node: store.backend == Backend::Sqlite,
            presence_url: store.postgres_url.clone(),
        };
        let settings = std::sync::Arc::new(settings);
        let pipeline = Pipeline::start(PipelineParts {
            settings: settings.clone(),
            journal: journal.clone(),
            journal_health,
            registrations: &registrations,
            declared: crate::subscribers::declared,
            history: std::sync::Arc::new(crate::store::history::StoredHistory(
                store.deliveries.clone(),
            )),
            switches,
            replica,
            figures: store.deliveries.clone(),
            clock: clock.clone(),
        })?;
        if settings.server.admin_token.is_none() {
            log::info!("ADMIN_TOKEN is not set: the admin API answers 403");
        }
        if settings.server.read_token.is_none() {
            log::info!("READ_TOKEN is not set: the read API answers without credentials");
        }
        if settings.operator.source.is_some() {
            reload_on_hangup(pipeline.reloader.clone());
        }
        let metrics = Metrics::new(pipeline.health.clone());
        let state = web::Data::new(AppState {
            intake: IntakeRoute {
                intake: pipeline.intake.clone(),
                token: settings.intake.ingest_token.clone(),
                max_body_bytes: settings.intake.max_body_bytes,
                body_timeout: Duration::from_secs(settings.intake.body_timeout_seconds),
                bounds: crate::domain::bounds::EventBounds {
                    max_channels: settings.intake.max_channels_per_event,
                },
                metrics: metrics.clone(),
            },
            health: pipeline.health.clone(),
            pool: store.pool.clone(),
            reads: store.reads.clone(),
            read_access: ReadAccess {
                read: settings.server.read_token.clone(),
                admin: settings.server.admin_token.clone(),
            },
            admin: AdminAccess(settings.server.admin_token.clone()),
            journal: journal.clone(),
            registry: pipeline.registry.clone(),
            routing: pipeline.routing.clone(),
            reloader: pipeline.reloader.clone(),
            metrics,
            clock: clock.clone(),
            insights: settings.insights,
            insights_cache: routes::insights::AnswerCache::new(settings.insights.cache_seconds),
        });
        let mut server = HttpServer::new(move || {
            routes::extractors::configure(App::new())
                .wrap(actix_web::middleware::from_fn(
                    routes::request_log::request_log,
                ))
                .app_data(state.clone())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .disable_signals();
        server = server.shutdown_timeout(HTTP_SHUTDOWN_SECONDS);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers.max(1));
        }
        log::info!("alvares listening on port {port}");
        Ok(Application {
            port,
            grace: Duration::from_secs(settings.server.shutdown_grace_seconds),
            server: server.run(),
            pipeline,
            journal,
            journal_thread,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests, signal handling).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn health(&self) -> &HealthBoard {
        &self.pipeline.health
    }

    /// The read routes' pool and gates (tests hold their permits).
    pub fn reads(&self) -> &ReadRoutes {
        &self.store.reads
    }

    /// Serves until the server stops (SIGINT/SIGTERM), or until an actor or
    /// the journal writer dies for good, which ends with an error so that
    /// the process exits non-zero and its orchestrator starts a new one.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Application {
            server,
            pipeline,
            journal,
            journal_thread,
            store,
            grace,
            ..
        } = self;
        let handle = server.handle();
        stop_on_signals(handle.clone());
        let result = {
            let watchdog = async {
                loop {
                    actix_rt::time::sleep(WATCH_EVERY).await;
                    let dead = pipeline.dead_actor().or_else(|| {
                        journal_thread
                            .is_finished()
                            .then(|| "the journal writer stopped".to_owned())
                    });
                    if let Some(dead) = dead {
                        return dead;
                    }
                }
            };
            match futures_util::future::select(Box::pin(server), Box::pin(watchdog)).await {
                futures_util::future::Either::Left((served, _)) => {
                    log::info!(
                        "alvares: stopped taking requests; finishing deliveries (up to {}s)",
                        grace.as_secs()
                    );
                    served.map_err(StartupError::from)
                }
                futures_util::future::Either::Right((dead, server)) => {
                    log::error!("alvares: {dead}; stopping so that the process is started again");
                    handle.stop(true).await;
                    let _ = server.await;
                    Err(StartupError::Died(dead))
                }
            }
        };
        pipeline.shut_down(grace).await;
        if let Err(error) = journal.flush().await {
            log::error!("shutdown: the journal could not be flushed: {error}");
        }
        drop(pipeline);
        drop(store);
        result
    }
}

//! Builds the application: the pipeline's actors and the HTTP server on a
//! bound listener (port 0 in tests, so each test gets its own).

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::config::{ConfigError, Settings};
use crate::pipeline::health::ActorHealth;
use crate::pipeline::metrics::Metrics;
use crate::pipeline::{Pipeline, ReplicaSetup};
use crate::routes;
use crate::routes::admin::AdminAccess;
use crate::routes::intake::IntakeRoute;
use crate::store::journal::{Journal, JournalSettings};
use crate::store::{Backend, Store, StoreError};
use crate::subscribers::{Registration, registrations};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("could not listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub struct Application {
    port: u16,
    /// How long running deliveries may finish at shutdown.
    grace: Duration,
    server: Server,
    pipeline: Pipeline,
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
        // Only the ring provider is compiled in; make it the process default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if settings.intake.ingest_token.is_none() {
            log::warn!("INGEST_TOKEN is not set: intake accepts events without credentials");
        }
        let store = Store::open(&settings.store)?;
        let journal_health = ActorHealth::new("journal-writer", "journal");
        let (journal, _writer) = Journal::start(
            store.pool.clone(),
            store.backend,
            JournalSettings {
                lease: Duration::from_secs(settings.store.lease_seconds),
                retention: Duration::from_secs(u64::from(settings.store.retention_days) * 86_400),
                prune_every: Duration::from_secs(60 * 60),
            },
            journal_health.clone(),
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
        };
        let pipeline = Pipeline::start(
            &settings,
            journal.clone(),
            journal_health,
            &registrations,
            &switches,
            replica,
        )?;
        if settings.server.admin_token.is_none() {
            log::info!("ADMIN_TOKEN is not set: the admin API answers 403");
        }
        let metrics = Metrics::new(pipeline.health.clone());
        let intake_route = web::Data::new(IntakeRoute {
            intake: pipeline.intake.clone(),
            token: settings.intake.ingest_token.clone(),
            max_body_bytes: settings.intake.max_body_bytes,
            metrics: metrics.clone(),
        });
        let health = web::Data::new(pipeline.health.clone());
        let pool = web::Data::new(store.pool.clone());
        let enrichment = web::Data::new(settings.enrichment.clone());
        let admin = web::Data::new(AdminAccess(settings.server.admin_token.clone()));
        let journal_data = web::Data::new(journal.clone());
        let registry = web::Data::new(pipeline.registry.clone());
        let metrics = web::Data::new(metrics);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(intake_route.clone())
                .app_data(health.clone())
                .app_data(pool.clone())
                .app_data(enrichment.clone())
                .app_data(admin.clone())
                .app_data(journal_data.clone())
                .app_data(registry.clone())
                .app_data(metrics.clone())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?;
        // Requests in flight when a signal comes are answered first.
        server = server.shutdown_timeout(5);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers.max(1));
        }
        log::info!("alvares listening on port {port}");
        Ok(Application {
            port,
            grace: Duration::from_secs(settings.server.shutdown_grace_seconds),
            server: server.run(),
            pipeline,
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

    pub fn health(&self) -> &crate::pipeline::health::HealthBoard {
        &self.pipeline.health
    }

    /// Serves until the server stops (SIGINT/SIGTERM).
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Application {
            server,
            pipeline,
            store,
            grace,
            ..
        } = self;
        let result = server.await;
        pipeline.shut_down(grace).await;
        drop(pipeline);
        drop(store);
        Ok(result?)
    }
}

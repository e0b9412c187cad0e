//! Builds the application: the pipeline's actors and the HTTP server on a
//! bound listener (port 0 in tests, so each test gets its own).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::config::{ConfigError, Settings};
use crate::pipeline::Pipeline;
use crate::routes;
use crate::routes::intake::IntakeRoute;
use crate::subscribers::{Registration, registrations};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("could not listen: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    pipeline: Pipeline,
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
        let pipeline = Pipeline::start(&settings, &registrations)?;
        let listener = TcpListener::bind(address)?;
        let port = listener.local_addr()?.port();
        let intake_route = web::Data::new(IntakeRoute {
            intake: pipeline.intake.clone(),
            token: settings.intake.ingest_token.clone(),
            max_body_bytes: settings.intake.max_body_bytes,
        });
        let health = web::Data::new(pipeline.health.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(intake_route.clone())
                .app_data(health.clone())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?;
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers.max(1));
        }
        log::info!("alvares listening on port {port}");
        Ok(Application {
            port,
            server: server.run(),
            pipeline,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn health(&self) -> &crate::pipeline::health::HealthBoard {
        &self.pipeline.health
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Serves until the server stops (SIGINT/SIGTERM).
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Application {
            server, pipeline, ..
        } = self;
        let result = server.await;
        drop(pipeline);
        Ok(result?)
    }
}

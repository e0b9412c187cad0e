//! The actors an event passes through: intake → enricher → registry →
//! one supervised actor per subscriber.

pub mod enricher;
pub mod health;
pub mod intake;
pub mod messages;
pub mod registry;

use actix::{Actor, Addr};

use crate::config::{ConfigError, Settings};
use crate::subscribers::Registration;
use enricher::EnricherActor;
use health::{ActorHealth, HealthBoard};
use intake::IntakeActor;
use registry::RegistryActor;

/// The running pipeline: the intake address routes send to, and every
/// actor's health.
pub struct Pipeline {
    pub intake: Addr<IntakeActor>,
    pub registry: Addr<RegistryActor>,
    pub health: HealthBoard,
    // Kept so the subscribers' threads stop with the pipeline.
    _subscriber_arbiters: Vec<actix::Arbiter>,
}

impl Pipeline {
    /// Starts every actor. Must run inside the actix system.
    pub fn start(settings: &Settings, registrations: &[Registration]) -> Result<Self, ConfigError> {
        let mut health = HealthBoard::default();
        let intake_health = ActorHealth::new("intake", "intake");
        let enricher_health = ActorHealth::new("enricher", "enricher");
        let registry_health = ActorHealth::new("registry", "registry");
        health.add(intake_health.clone());
        health.add(enricher_health.clone());
        health.add(registry_health.clone());

        let started = registry::start_subscribers(settings, registrations)?;
        for subscriber in &started.entries {
            health.add(subscriber.health.clone());
        }
        let registry = RegistryActor::new(started.entries, registry_health).start();
        let enricher = EnricherActor::new(
            settings.enrichment.clone(),
            registry.clone(),
            enricher_health,
        )
        .start();
        let intake = IntakeActor::new(enricher, intake_health).start();
        Ok(Pipeline {
            intake,
            registry,
            health,
            _subscriber_arbiters: started.arbiters,
        })
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for arbiter in &self._subscriber_arbiters {
            arbiter.stop();
        }
    }
}

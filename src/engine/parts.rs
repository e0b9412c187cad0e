//! What a subscriber actor is built from (its limits and shared parts)
//! and the messages it takes and sends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Message;

use super::health::ActorHealth;
use super::rate_limit::Limiter;
use super::retry::RetryPolicy;
use super::slots::Slots;
use crate::clock::SharedClock;
use crate::config::Redactor;
use crate::domain::{EventId, PublishedEvent};
use crate::store::journal::{Journal, Ticket};

/// Registry → one subscriber actor: one delivery.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub ticket: Ticket,
    pub event: Arc<PublishedEvent>,
}

/// A subscriber actor → whoever announces dead letters: a delivery was
/// given up on.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct DeadLettered {
    pub subscriber: &'static str,
    pub event_id: EventId,
    pub error: String,
}

/// Shutdown → a subscriber actor: start nothing new, let running
/// deliveries finish until `until`, then give everything still held back
/// to the journal. Answers how many deliveries were given back.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain {
    pub until: Instant,
}

#[derive(Debug, Clone, Copy)]
pub struct ActorLimits {
    pub concurrency: usize,
    pub timeout: Duration,
    pub circuit_failures: u32,
    pub circuit_cooldown: Duration,
}

/// Everything a subscriber actor is built from, besides the subscriber.
pub struct ActorParts {
    pub limits: ActorLimits,
    /// Takes configured secrets out of whatever a destination answered.
    pub redactor: Arc<Redactor>,
    pub policy: RetryPolicy,
    pub health: Arc<ActorHealth>,
    pub journal: Journal,
    pub slots: Arc<Slots>,
    pub limiter: Arc<Limiter>,
    pub clock: SharedClock,
    /// Told of every dead letter (when alerts are on).
    pub dead_letters: Option<actix::Recipient<DeadLettered>>,
}

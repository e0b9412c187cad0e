//! The messages that carry an event through the pipeline's actors.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use actix::Message;
use serde::Serialize;
use uuid::Uuid;

use crate::domain::event::{Event, EventKind};
use crate::store::journal::Ticket;

/// An event's id: a UUID v7, so ids sort by the time they were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    pub fn new() -> Self {
        EventId(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(EventId)
    }
}

/// Why intake could not take an event.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the journal is full")]
    Overloaded,
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("the idempotency key was used for a different body")]
    KeyReused,
}

/// An `Idempotency-Key` header and the hash of the body it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub body_hash: String,
}

/// Route → intake actor: a validated event to record.
#[derive(Message)]
#[rtype(result = "Result<Accepted, IntakeError>")]
pub struct Accept {
    pub event: Event,
    pub idempotency: Option<IdempotencyKey>,
}

/// Intake's answer: the event's id, and whether it repeats an earlier one.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: String,
    pub repeated: bool,
}

/// An event read back from the journal or just recorded, not yet enriched,
/// with the deliveries of it this process holds.
#[derive(Debug)]
pub struct RecordedEvent {
    pub id: EventId,
    /// Unix milliseconds.
    pub received_at: i64,
    pub event: Event,
    pub tickets: Vec<Ticket>,
}

/// Intake actor or sweeper → enricher actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enrich(pub RecordedEvent);

/// An enriched event, as every subscriber sees it.
#[derive(Debug)]
pub struct PublishedEvent {
    pub id: EventId,
    /// Unix milliseconds.
    pub received_at: i64,
    pub event: Event,
}

impl PublishedEvent {
    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }
}

/// Enricher actor → registry actor: an event and the deliveries of it to
/// hand out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub event: Arc<PublishedEvent>,
    pub tickets: Vec<Ticket>,
}

/// Registry actor → one subscriber actor: one delivery.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub ticket: Ticket,
    pub event: Arc<PublishedEvent>,
}

/// Switches a subscriber on or off for the next event.
#[derive(Message)]
#[rtype(result = "Result<(), UnknownSubscriber>")]
pub struct SetEnabled {
    pub id: String,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("no subscriber has the id {0}")]
pub struct UnknownSubscriber(pub String);

/// Shutdown → a subscriber actor: start nothing new, let running
/// deliveries finish until `until`, then give everything still held back
/// to the journal. Answers how many deliveries were given back.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain {
    pub until: std::time::Instant,
}

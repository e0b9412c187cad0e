//! The messages that carry an event through the pipeline's actors.

use std::fmt;
use std::sync::Arc;

use actix::Message;
use serde::Serialize;
use uuid::Uuid;

use crate::domain::event::{Event, EventKind};

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

/// Why intake could not take an event.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the pipeline is full")]
    Overloaded,
}

/// Route → intake actor: a validated event to accept.
#[derive(Message)]
#[rtype(result = "Result<EventId, IntakeError>")]
pub struct Accept(pub Event);

/// An event that intake has accepted, not yet enriched.
#[derive(Debug)]
pub struct AcceptedEvent {
    pub id: EventId,
    pub event: Event,
}

/// Intake actor → enricher actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enrich(pub AcceptedEvent);

/// An enriched event, as every subscriber sees it.
#[derive(Debug)]
pub struct PublishedEvent {
    pub id: EventId,
    pub event: Event,
}

impl PublishedEvent {
    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }
}

/// Enricher actor → registry actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Arc<PublishedEvent>);

/// Registry actor → one subscriber actor.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<PublishedEvent>);

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

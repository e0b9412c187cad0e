//! The messages between the pipeline's actors.

use std::sync::Arc;

use actix::Message;

use crate::config::OperatorConfig;
use crate::domain::{Event, EventId, PublishedEvent};
use crate::store::journal::{JournalError, Ticket};
use crate::store::models::silences::SilenceRow;
use crate::store::models::subscriber_settings::SubscriberSetting;

/// Why intake could not take an event.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the journal is full")]
    Overloaded,
    #[error("storage failed: {0}")]
    Storage(#[source] JournalError),
    #[error("recording took longer than {0:?}")]
    RecordTimeout(std::time::Duration),
    /// An actor on the way was being restarted by its supervisor.
    #[error("{0} is restarting")]
    Restarting(&'static str),
    #[error("the idempotency key was used for a different body")]
    KeyReused,
    #[error("intake is shutting down")]
    ShuttingDown,
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
    /// The HTTP request's id, for the log lines about this event.
    pub request_id: Option<String>,
}

/// Intake's answer: the event's id, and whether it repeats an earlier one.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: String,
    pub repeated: bool,
}

/// Intake actor → enricher actor: an event with its id, to enrich, record
/// and publish; answered once it is recorded.
#[derive(Message)]
#[rtype(result = "Result<Accepted, IntakeError>")]
pub struct Record {
    pub id: EventId,
    /// Unix milliseconds.
    pub received_at: i64,
    pub event: Event,
    pub idempotency: Option<IdempotencyKey>,
    pub request_id: Option<String>,
}

/// Enricher or sweeper → registry actor: a recorded event and the
/// deliveries of it this process holds, to hand out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub event: Arc<PublishedEvent>,
    pub tickets: Vec<Ticket>,
}

/// Admin route → registry: switch a subscriber on or off for the next
/// event. The registry stores it, so it outlives restarts and reaches the
/// other replicas.
#[derive(Message)]
#[rtype(result = "Result<(), SwitchError>")]
pub struct SetEnabled {
    pub id: String,
    pub enabled: bool,
    /// Who changed it, as the settings table records it.
    pub by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("no subscriber has the id {0}")]
    UnknownSubscriber(String),
    #[error("the switch could not be stored: {0}")]
    Storage(#[source] JournalError),
}

/// Coordinator → registry: the subscribers this replica delivers for now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetOwnership(pub Vec<String>);

/// Coordinator → registry: the switches as stored (another replica may
/// have changed one).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyStoredSwitches(pub Vec<SubscriberSetting>);

/// Coordinator or admin route → registry: the silences as stored, not yet
/// ended, as read from `as_of` on. A list read earlier than the one in
/// force is stale (a coordination round that began before an admin's
/// change) and is ignored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplySilences {
    pub silences: Vec<SilenceRow>,
    pub as_of: std::time::Instant,
}

/// Reload → registry: a validated operator configuration to put in force.
#[derive(Message)]
#[rtype(result = "Result<ReloadReport, crate::config::ConfigError>")]
pub struct Reload(pub OperatorConfig);

/// What a reload changed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReloadReport {
    pub file: Option<String>,
    pub routes: usize,
    pub webhooks: Vec<String>,
    pub webhooks_added: Vec<String>,
    pub webhooks_removed: Vec<String>,
    pub templates_replaced: Vec<String>,
    /// `[settings]` that differ from those in force: they take effect at
    /// the next start.
    pub settings_need_restart: Vec<String>,
}

/// Shutdown → a core actor: take no new work. (A supervised actor that
/// stopped would be restarted, so it stays, idle, until the process ends.)
#[derive(Message)]
#[rtype(result = "()")]
pub struct Quiesce;

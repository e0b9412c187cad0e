//! A silence: deliveries matching it, between its start and end, are
//! skipped ("silenced by <id>") instead of sent. Admins make them through
//! the admin API and the console; they are stored, so every replica
//! applies the same ones.

use serde_json::Value;

use super::EventKind;
use super::matching::Conditions;

/// Patterns one silence may hold, over all its fields.
pub const MAX_PATTERNS_PER_SILENCE: usize = 100;
/// Characters in one pattern.
pub const MAX_PATTERN_CHARS: usize = 256;
/// Silences not yet ended (pending or active) at once.
pub const MAX_ACTIVE_SILENCES: usize = 1_000;

#[derive(Debug, Clone)]
pub struct Silence {
    pub id: String,
    /// On the event's fields, `kind`, and `subscriber`.
    pub matchers: Conditions,
    /// Unix milliseconds.
    pub starts_at: i64,
    pub ends_at: i64,
    pub comment: String,
    pub created_by: String,
}

impl Silence {
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.starts_at <= now_ms && now_ms < self.ends_at
    }

    /// Whether a delivery of this event to `subscriber` is silenced now.
    pub fn silences(&self, now_ms: i64, kind: EventKind, event: &Value, subscriber: &str) -> bool {
        self.is_active(now_ms) && self.matchers.match_event(kind, event, Some(subscriber))
    }
}

//! What each actor reports about itself: counters, restarts, last error,
//! and for subscribers their circuit breaker and rate limits.
//!
//! Actors update their own [`ActorHealth`] with atomics (no message round
//! trip on the hot path); health routes read snapshots. Whether a
//! subscriber is switched on is not an actor's fact but the routing
//! table's, so the snapshot takes it as an input ([`Availability`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::circuit::{Circuit, CircuitState};
use super::rate_limit::{Limiter, LimiterReport};
use crate::clock::SharedClock;

/// What an actor is doing, as an operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActorState {
    Running,
    Restarting,
    Disabled,
    Unconfigured,
    CircuitOpen,
    CircuitHalfOpen,
    /// A delivery attempt has been running longer than its deadline: the
    /// subscriber is stuck on it (its other work waits).
    BusyPastDeadline,
}

/// A subscriber's place in the routing table, as health shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Active,
    Disabled,
    Unconfigured,
}

/// Which kind of actor a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Intake,
    Enricher,
    Registry,
    Sweeper,
    Coordinator,
    Journal,
    Alerts,
    Digest,
    Subscriber,
}

/// An actor's last error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LastError {
    pub message: String,
    /// When (RFC 3339; kept as Unix milliseconds).
    #[serde(rename = "at", serialize_with = "as_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at_ms: i64,
}

fn as_rfc3339<S: serde::Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::clock::rfc3339(*ms))
}

/// One actor's live report. Counters only go up.
#[derive(Debug)]
pub struct ActorHealth {
    pub id: String,
    pub role: Role,
    clock: SharedClock,
    /// Whether the actor is between a stop and its restart.
    restarting: AtomicBool,
    pub restarts: AtomicU64,
    pub received: AtomicU64,
    pub delivered: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    /// Events refused because the actor's queue was full.
    pub dropped: AtomicU64,
    /// Deliveries given back to wait for their turn (rate limit, circuit).
    pub deferred: AtomicU64,
    /// Rounds of periodic work done (the sweeper's sweeps, the
    /// coordinator's heartbeats).
    pub rounds: AtomicU64,
    circuit: Mutex<Option<Circuit>>,
    limiter: OnceLock<Arc<Limiter>>,
    /// How long delivery attempts take (subscribers only).
    pub latency: Histogram,
    pub queued: AtomicU64,
    pub in_flight: AtomicU64,
    last_error: Mutex<Option<LastError>>,
    last_restart_cause: Mutex<Option<String>>,
    /// When each running delivery attempt started (by the actor's job
    /// key), read from here so that a stuck actor still shows.
    attempts: Mutex<HashMap<u64, Instant>>,
    /// How long one delivery may take (subscribers only).
    deadline: OnceLock<Duration>,
}

impl ActorHealth {
    pub fn new(id: impl Into<String>, role: Role, clock: SharedClock) -> Arc<Self> {
        Arc::new(ActorHealth {
            id: id.into(),
            role,
            clock,
            restarting: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
            received: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            circuit: Mutex::new(None),
            limiter: OnceLock::new(),
            latency: delivery_duration_histogram(),
            queued: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_restart_cause: Mutex::new(None),
            attempts: Mutex::new(HashMap::new()),
            deadline: OnceLock::new(),
        })
    }

    pub fn is_restarting(&self) -> bool {
        self.restarting.load(Ordering::Relaxed)
    }

    pub fn set_restarting(&self, restarting: bool) {
        self.restarting.store(restarting, Ordering::Relaxed);
    }

    pub fn attach_limiter(&self, limiter: Arc<Limiter>) {
        let _ = self.limiter.set(limiter);
    }

    /// The subscriber's circuit as it stands (a copy: the actor owns it).
    pub fn set_circuit(&self, circuit: &Circuit) {
        if let Ok(mut slot) = self.circuit.lock() {
            *slot = Some(circuit.clone());
        }
    }

    /// The circuit's state now.
    pub fn circuit_state(&self, now: Instant) -> CircuitState {
        self.circuit
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.state_at(now)))
            .unwrap_or(CircuitState::Closed)
    }

    /// How many deliveries the circuit lets the sweeper claim now.
    pub fn circuit_admits(&self) -> usize {
        let now = self.clock.instant();
        self.circuit
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.admits(now)))
            .unwrap_or(usize::MAX)
    }

    /// The subscriber's delivery deadline, past which a running attempt
    /// shows as stuck.
    pub fn set_deadline(&self, deadline: Duration) {
        let _ = self.deadline.set(deadline);
    }

    pub fn attempt_started(&self, key: u64, at: Instant) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.insert(key, at);
        }
    }

    pub fn attempt_ended(&self, key: u64) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.remove(&key);
        }
    }

    /// Every running attempt was given back or dropped (drain, restart).
    pub fn attempts_ended(&self) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.clear();
        }
    }

    /// How long the longest running attempt has been running.
    pub fn longest_attempt(&self, now: Instant) -> Option<Duration> {
        let attempts = self.attempts.lock().ok()?;
        attempts
            .values()
            .map(|started| now.saturating_duration_since(*started))
            .max()
    }

    /// Whether an attempt has been running past the deadline.
    pub fn is_busy_past_deadline(&self, now: Instant) -> bool {
        match (self.deadline.get(), self.longest_attempt(now)) {
            (Some(deadline), Some(longest)) => longest > *deadline,
            _ => false,
        }
    }

    pub fn set_gauge(gauge: &AtomicU64, value: usize) {
        gauge.store(value as u64, Ordering::Relaxed);
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_error(&self, message: impl Into<String>) {
        let entry = LastError {
            message: message.into(),
            at_ms: self.clock.now_ms(),
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(entry);
        }
    }

    pub fn record_restart(&self, cause: impl Into<String>) {
        Self::count(&self.restarts);
        if let Ok(mut last) = self.last_restart_cause.lock() {
            *last = Some(cause.into());
        }
    }

    pub fn state(&self, availability: Availability) -> ActorState {
        match availability {
            Availability::Unconfigured => return ActorState::Unconfigured,
            Availability::Disabled => return ActorState::Disabled,
            Availability::Active => {}
        }
        if self.is_restarting() {
            return ActorState::Restarting;
        }
        let now = self.clock.instant();
        match self.circuit_state(now) {
            CircuitState::Closed if self.is_busy_past_deadline(now) => ActorState::BusyPastDeadline,
            CircuitState::Closed => ActorState::Running,
            CircuitState::Open => ActorState::CircuitOpen,
            CircuitState::HalfOpen => ActorState::CircuitHalfOpen,
        }
    }

    pub fn snapshot(&self, availability: Availability) -> ActorReport {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ActorReport {
            id: self.id.clone(),
            role: self.role,
            state: self.state(availability),
            restarts: load(&self.restarts),
            last_restart_cause: self.last_restart_cause.lock().ok().and_then(|c| c.clone()),
            received: load(&self.received),
            delivered: load(&self.delivered),
            skipped: load(&self.skipped),
            failed: load(&self.failed),
            retried: load(&self.retried),
            dropped: load(&self.dropped),
            deferred: load(&self.deferred),
            rounds: load(&self.rounds),
            queued: load(&self.queued),
            in_flight: load(&self.in_flight),
            longest_attempt_ms: self
                .longest_attempt(self.clock.instant())
                .map(|took| took.as_millis() as u64),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            circuit: (self.role == Role::Subscriber).then(|| self.circuit_report()),
            rate_limit: self.limiter.get().map(|l| l.report()),
            backlog: None,
            dead_lettered: None,
        }
    }

    fn circuit_report(&self) -> CircuitReport {
        let now = self.clock.instant();
        let now_ms = self.clock.now_ms();
        let circuit = self.circuit.lock().ok().and_then(|c| c.clone());
        match circuit {
            None => CircuitReport {
                state: CircuitState::Closed,
                failures: 0,
                open_until_ms: None,
            },
            Some(circuit) => CircuitReport {
                state: circuit.state_at(now),
                failures: circuit.failures(),
                open_until_ms: circuit
                    .open_until()
                    .filter(|_| circuit.state_at(now) != CircuitState::Closed)
                    .map(|until| now_ms + until.saturating_duration_since(now).as_millis() as i64),
            },
        }
    }
}

/// Seconds one delivery attempt took: 1 ms to about 35 minutes, so that
/// even a Lighthouse scan (minutes) lands in a bucket.
pub fn delivery_duration_histogram() -> Histogram {
    Histogram::exponential(0.001, 2.0, 22)
}

/// A Prometheus histogram: cumulative buckets, their sum and count,
/// updated with atomics.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// One per bound, not cumulative (summed when read).
    counts: Vec<AtomicU64>,
    /// Observations above the last bound.
    overflow: AtomicU64,
    /// The sum, as f64 bits.
    sum: AtomicU64,
}

/// A histogram as read: `(upper bound, cumulative count)` pairs, the sum
/// and the count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramReading {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// `length` buckets from `start`, each `factor` times the one before.
    pub fn exponential(start: f64, factor: f64, length: u16) -> Self {
        let bounds: Vec<f64> = (0..i32::from(length))
            .map(|i| start * factor.powi(i))
            .collect();
        Histogram {
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            bounds,
            overflow: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        match self.bounds.iter().position(|bound| value <= *bound) {
            Some(index) => self.counts[index].fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    pub fn read(&self) -> HistogramReading {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(bound, count)| {
                cumulative += count.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        HistogramReading {
            buckets,
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
            count: cumulative + self.overflow.load(Ordering::Relaxed),
        }
    }
}

/// The journal writer reports through the store's small interface; this
/// is how it shows as the `journal-writer` actor.
impl crate::store::status::WriterObserver for ActorHealth {
    fn batch_written(&self, _requests: usize, _took: std::time::Duration) {
        Self::count(&self.delivered);
    }

    fn batch_failed(&self, error: &str) {
        Self::count(&self.failed);
        self.record_error(error.to_owned());
    }

    fn queue_depth(&self, depth: usize) {
        Self::set_gauge(&self.queued, depth);
    }

    fn recovered(&self, cause: &str) {
        self.record_restart(cause.to_owned());
    }
}

/// One actor as health and the admin API show it: its live report plus,
/// for a subscriber, what the journal holds for it (filled in by whoever
/// reads the journal; the actor's own snapshot leaves it out).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorReport {
    /// E.g. `intake`, `journal-writer`, `slack-deployment`.
    pub id: String,
    pub role: Role,
    pub state: ActorState,
    pub restarts: u64,
    /// Why it was last restarted.
    pub last_restart_cause: Option<String>,
    pub received: u64,
    pub delivered: u64,
    pub skipped: u64,
    pub failed: u64,
    pub retried: u64,
    /// Events refused because its queue was full.
    pub dropped: u64,
    /// Deliveries given back to wait for their turn (rate limit, circuit).
    pub deferred: u64,
    /// Rounds of periodic work done (sweeps, heartbeats).
    pub rounds: u64,
    /// Messages waiting in its queue.
    pub queued: u64,
    pub in_flight: u64,
    /// How long its longest running delivery attempt has been running;
    /// past the subscriber's deadline its state is `busy-past-deadline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longest_attempt_ms: Option<u64>,
    pub last_error: Option<LastError>,
    /// Subscribers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub circuit: Option<CircuitReport>,
    /// Subscribers with a pace only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rate_limit: Option<LimiterReport>,
    /// Subscribers only: deliveries pending, retrying or in flight in the
    /// journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub backlog: Option<i64>,
    /// Subscribers only: failed deliveries (dead letters) in the journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub dead_lettered: Option<i64>,
}

/// A subscriber's circuit breaker, as health shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitReport {
    pub state: CircuitState,
    /// Transient failures in a row.
    pub failures: u32,
    /// Unix ms when an open circuit lets a probe through.
    pub open_until_ms: Option<i64>,
}

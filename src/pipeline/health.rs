//! What each actor reports about itself: state, counters, last error.
//!
//! Actors update their own [`ActorHealth`] with atomics (no message round
//! trip on the hot path); the health route reads a [`HealthBoard`] snapshot.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::subscribers::circuit::CircuitState;
use crate::subscribers::rate_limit::{Limiter, LimiterReport};

/// What an actor is doing, as an operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActorState {
    Running,
    Restarting,
    Disabled,
    Unconfigured,
    CircuitOpen,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    pub message: String,
    /// Unix time in milliseconds.
    pub at_ms: i64,
}

/// One actor's live report. Counters only go up.
#[derive(Debug)]
pub struct ActorHealth {
    pub id: String,
    pub role: &'static str,
    /// Whether the actor is between a stop and its restart.
    restarting: AtomicBool,
    /// Set by the registry: an admin or `DISABLED_SUBSCRIBERS` turned it off.
    enabled: AtomicBool,
    /// A subscriber without its configuration has no actor at all.
    configured: AtomicBool,
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
    /// Unix ms until which the subscriber's circuit is open (0: closed).
    pub circuit_open_until: AtomicI64,
    circuit: Mutex<CircuitReport>,
    limiter: OnceLock<Arc<Limiter>>,
    /// How long delivery attempts take (subscribers only).
    pub latency: prometheus_client::metrics::histogram::Histogram,
    pub queued: AtomicU64,
    pub in_flight: AtomicU64,
    last_error: Mutex<Option<LastError>>,
    last_restart_cause: Mutex<Option<String>>,
}

impl ActorHealth {
    pub fn new(id: impl Into<String>, role: &'static str) -> Arc<Self> {
        Arc::new(ActorHealth {
            id: id.into(),
            role,
            restarting: AtomicBool::new(false),
            enabled: AtomicBool::new(true),
            configured: AtomicBool::new(true),
            restarts: AtomicU64::new(0),
            received: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            circuit_open_until: AtomicI64::new(0),
            circuit: Mutex::new(CircuitReport {
                state: CircuitState::Closed,
                failures: 0,
                open_until_ms: None,
            }),
            limiter: OnceLock::new(),
            latency: super::metrics::new_latency_histogram(),
            queued: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_restart_cause: Mutex::new(None),
        })
    }

    pub fn state(&self) -> ActorState {
        if !self.configured.load(Ordering::Relaxed) {
            ActorState::Unconfigured
        } else if !self.enabled.load(Ordering::Relaxed) {
            ActorState::Disabled
        } else if self.restarting.load(Ordering::Relaxed) {
            ActorState::Restarting
        } else if self.circuit_open_until.load(Ordering::Relaxed) > now_ms() {
            ActorState::CircuitOpen
        } else {
            ActorState::Running
        }
    }

    pub fn set_restarting(&self, restarting: bool) {
        self.restarting.store(restarting, Ordering::Relaxed);
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    pub fn set_configured(&self, configured: bool) {
        self.configured.store(configured, Ordering::Relaxed);
    }

    pub fn attach_limiter(&self, limiter: Arc<Limiter>) {
        let _ = self.limiter.set(limiter);
    }

    pub fn set_circuit(&self, report: CircuitReport) {
        let open_until = match report.state {
            CircuitState::Closed => 0,
            _ => report.open_until_ms.unwrap_or(0),
        };
        self.circuit_open_until.store(open_until, Ordering::Relaxed);
        if let Ok(mut circuit) = self.circuit.lock() {
            *circuit = report;
        }
    }

    /// Whether the sweeper should leave this subscriber's backlog alone.
    pub fn circuit_is_open(&self) -> bool {
        self.circuit_open_until.load(Ordering::Relaxed) > now_ms()
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
            at_ms: now_ms(),
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

    pub fn snapshot(&self) -> ActorReport {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ActorReport {
            id: self.id.clone(),
            role: self.role,
            state: self.state(),
            restarts: load(&self.restarts),
            last_restart_cause: self.last_restart_cause.lock().ok().and_then(|c| c.clone()),
            received: load(&self.received),
            delivered: load(&self.delivered),
            skipped: load(&self.skipped),
            failed: load(&self.failed),
            retried: load(&self.retried),
            dropped: load(&self.dropped),
            deferred: load(&self.deferred),
            queued: load(&self.queued),
            in_flight: load(&self.in_flight),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            circuit: (self.role == "subscriber")
                .then(|| self.circuit.lock().ok().map(|c| c.clone()))
                .flatten(),
            rate_limit: self.limiter.get().map(|l| l.report()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorReport {
    pub id: String,
    pub role: &'static str,
    pub state: ActorState,
    pub restarts: u64,
    pub last_restart_cause: Option<String>,
    pub received: u64,
    pub delivered: u64,
    pub skipped: u64,
    pub failed: u64,
    pub retried: u64,
    pub dropped: u64,
    pub deferred: u64,
    pub queued: u64,
    pub in_flight: u64,
    pub last_error: Option<LastError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit: Option<CircuitReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<LimiterReport>,
}

/// A subscriber's circuit breaker, as health shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitReport {
    pub state: CircuitState,
    /// Transient failures in a row.
    pub failures: u32,
    /// Unix ms when an open circuit lets a probe through.
    pub open_until_ms: Option<i64>,
}

/// Every actor's health, in pipeline order.
#[derive(Debug, Clone, Default)]
pub struct HealthBoard {
    actors: Vec<Arc<ActorHealth>>,
}

impl HealthBoard {
    pub fn add(&mut self, health: Arc<ActorHealth>) {
        self.actors.push(health);
    }

    pub fn actors(&self) -> &[Arc<ActorHealth>] {
        &self.actors
    }

    pub fn get(&self, id: &str) -> Option<&Arc<ActorHealth>> {
        self.actors.iter().find(|a| a.id == id)
    }

    pub fn snapshot(&self) -> Vec<ActorReport> {
        self.actors.iter().map(|a| a.snapshot()).collect()
    }
}

/// Unix time in milliseconds, the journal's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

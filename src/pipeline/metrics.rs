//! `GET /metrics` in the Prometheus text format (version 0.0.4), which
//! every Prometheus parser reads with its types.
//!
//! Counters and gauges are read at scrape time from the actors' health and
//! from the journal (one source of truth, nothing to keep in step); the
//! latency histograms are observed as requests and deliveries finish.
//! Hand-written rather than `prometheus-client`: that crate writes only
//! OpenMetrics, whose counters Prometheus's classic parser misreads.
//!
//! One label per dimension: `subscriber` on everything about a subscriber,
//! `actor` on what every actor has (restarts, queue depth), `kind` for
//! event kinds.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::health::HealthBoard;
use crate::domain::EventKind;
use crate::engine::health::{Histogram, HistogramReading};
use crate::engine::{ActorReport, Role};

/// The content type of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the journal says at scrape time, per subscriber.
#[derive(Debug, Default, Clone)]
pub struct JournalGauges {
    /// Deliveries waiting or in flight.
    pub backlog: BTreeMap<String, i64>,
    /// Dead letters kept for replay.
    pub dead_letters: BTreeMap<String, i64>,
    /// How long the oldest due delivery has waited, in seconds.
    pub oldest_due_age: BTreeMap<String, f64>,
    /// Replicas with a fresh heartbeat, and those gone silent without a
    /// clean shutdown.
    pub replicas_live: i64,
    pub replicas_missing: i64,
}

pub struct Metrics {
    board: HealthBoard,
    received: [AtomicU64; 3],
    pub intake_latency: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new(board: HealthBoard) -> Arc<Self> {
        Arc::new(Metrics {
            board,
            received: Default::default(),
            // 0.5 ms to about 16 s: intake answers within the client's 5 s.
            intake_latency: Histogram::exponential(0.0005, 2.0, 16),
        })
    }

    /// An event of `kind` was accepted.
    pub fn count_received(&self, kind: EventKind) {
        let index = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.received[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn encode(&self, journal: &JournalGauges) -> String {
        let reports = self.board.snapshot();
        let subscribers: Vec<&ActorReport> = reports
            .iter()
            .filter(|r| r.role == Role::Subscriber)
            .collect();
        let mut out = Exposition::default();

        out.family("alvares_build_info", "The running build; always 1", "gauge");
        out.sample(
            "alvares_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );

        out.family(
            "alvares_events_received_total",
            "Events accepted by intake, by kind",
            "counter",
        );
        for (kind, count) in EventKind::ALL.iter().zip(&self.received) {
            out.sample(
                "alvares_events_received_total",
                &[("kind", kind.as_str())],
                count.load(Ordering::Relaxed) as f64,
            );
        }

        out.histogram(
            "alvares_intake_duration_seconds",
            "Time from request to answer on the intake routes",
            &[(&[], self.intake_latency.read())],
        );

        out.family(
            "alvares_deliveries_total",
            "Delivery attempts finished, by subscriber and outcome",
            "counter",
        );
        for report in &subscribers {
            for (outcome, value) in [
                ("delivered", report.delivered),
                ("skipped", report.skipped),
                ("failed", report.failed),
                ("retried", report.retried),
                ("deferred", report.deferred),
            ] {
                out.sample(
                    "alvares_deliveries_total",
                    &[("subscriber", &report.id), ("outcome", outcome)],
                    value as f64,
                );
            }
        }

        out.family(
            "alvares_retries_total",
            "Deliveries scheduled for another attempt, by subscriber",
            "counter",
        );
        for report in &subscribers {
            out.sample(
                "alvares_retries_total",
                &[("subscriber", &report.id)],
                report.retried as f64,
            );
        }

        out.family(
            "alvares_actor_restarts_total",
            "Actor restarts by their supervisor",
            "counter",
        );
        for report in &reports {
            out.sample(
                "alvares_actor_restarts_total",
                &[("actor", &report.id)],
                report.restarts as f64,
            );
        }

        out.family(
            "alvares_queue_depth",
            "Work held in memory and waiting to start, by actor",
            "gauge",
        );
        for report in &reports {
            out.sample(
                "alvares_queue_depth",
                &[("actor", &report.id)],
                report.queued as f64,
            );
        }

        out.family(
            "alvares_in_flight",
            "Deliveries running now, by subscriber",
            "gauge",
        );
        for report in &subscribers {
            out.sample(
                "alvares_in_flight",
                &[("subscriber", &report.id)],
                report.in_flight as f64,
            );
        }

        out.family(
            "alvares_circuit_state",
            "A subscriber's circuit breaker: 0 closed, 1 half-open, 2 open",
            "gauge",
        );
        for report in &subscribers {
            let state = report.circuit.as_ref().map_or(0, |c| c.state.as_number());
            out.sample(
                "alvares_circuit_state",
                &[("subscriber", &report.id)],
                state as f64,
            );
        }

        for (name, help, values) in [
            (
                "alvares_backlog",
                "Deliveries waiting in the journal or in flight, by subscriber",
                &journal.backlog,
            ),
            (
                "alvares_dead_letters",
                "Failed deliveries kept for replay, by subscriber",
                &journal.dead_letters,
            ),
        ] {
            out.family(name, help, "gauge");
            for report in &subscribers {
                let value = values.get(&report.id).copied().unwrap_or(0);
                out.sample(name, &[("subscriber", &report.id)], value as f64);
            }
        }

        out.family(
            "alvares_oldest_due_age_seconds",
            "How long the oldest due delivery has waited, by subscriber (0: none waits)",
            "gauge",
        );
        for report in &subscribers {
            let age = journal
                .oldest_due_age
                .get(&report.id)
                .copied()
                .unwrap_or(0.0);
            out.sample(
                "alvares_oldest_due_age_seconds",
                &[("subscriber", &report.id)],
                age,
            );
        }

        out.family(
            "alvares_replicas",
            "Replicas sharing the database: live, or missing (silent without a clean shutdown)",
            "gauge",
        );
        out.sample(
            "alvares_replicas",
            &[("state", "live")],
            journal.replicas_live as f64,
        );
        out.sample(
            "alvares_replicas",
            &[("state", "missing")],
            journal.replicas_missing as f64,
        );

        let actors = self.board.actors();
        let latencies: Vec<(Vec<(&str, &str)>, HistogramReading)> = actors
            .iter()
            .filter(|a| a.role == Role::Subscriber)
            .map(|a| (vec![("subscriber", a.id.as_str())], a.latency.read()))
            .collect();
        let latencies: Vec<(&[(&str, &str)], HistogramReading)> = latencies
            .iter()
            .map(|(labels, reading)| (labels.as_slice(), reading.clone()))
            .collect();
        out.histogram(
            "alvares_delivery_duration_seconds",
            "Time one delivery attempt took, by subscriber",
            &latencies,
        );
        out.0
    }
}

/// The text format, written line by line.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.0.push(',');
                }
                let escaped = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.0, "{label}=\"{escaped}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        series: &[(&[(&str, &str)], HistogramReading)],
    ) {
        self.family(name, help, "histogram");
        for (labels, reading) in series {
            let bucket = format!("{name}_bucket");
            for (bound, count) in &reading.buckets {
                let le = number(*bound);
                let mut with_le: Vec<(&str, &str)> = labels.to_vec();
                with_le.push(("le", &le));
                self.sample(&bucket, &with_le, *count as f64);
            }
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", "+Inf"));
            self.sample(&bucket, &with_le, reading.count as f64);
            self.sample(&format!("{name}_sum"), labels, reading.sum);
            self.sample(&format!("{name}_count"), labels, reading.count as f64);
        }
    }
}

/// A sample value as Prometheus writes it (whole numbers without `.0`).
fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

//! `GET /metrics` in Prometheus text format.
//!
//! Counters and gauges are read from the actors' health at scrape time (one
//! source of truth, nothing to keep in step); the latency histograms are
//! observed as requests and deliveries finish.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::health::HealthBoard;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabel {
    actor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    subscriber: String,
    outcome: &'static str,
}

/// Seconds, from 0.5 ms to about 16 s.
pub fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0005, 2.0, 16)
}

pub fn new_latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

pub struct Metrics {
    registry: Registry,
    pub events_received: Family<KindLabel, Counter>,
    pub intake_latency: Histogram,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new(board: HealthBoard) -> Arc<Self> {
        let mut registry = Registry::with_prefix("alvares");
        let events_received = Family::<KindLabel, Counter>::default();
        registry.register(
            "events_received",
            "Events accepted by intake, by kind",
            events_received.clone(),
        );
        let intake_latency = new_latency_histogram();
        registry.register(
            "intake_duration_seconds",
            "Time from request to answer on the intake routes",
            intake_latency.clone(),
        );
        registry.register_collector(Box::new(HealthCollector { board }));
        Arc::new(Metrics {
            registry,
            events_received,
            intake_latency,
        })
    }

    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[derive(Debug)]
struct HealthCollector {
    board: HealthBoard,
}

impl Collector for HealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let reports = self.board.snapshot();
        let subscribers: Vec<_> = reports.iter().filter(|r| r.role == "subscriber").collect();

        let mut family = encoder.encode_descriptor(
            "deliveries",
            "Delivery attempts finished, by subscriber and outcome",
            None,
            MetricType::Counter,
        )?;
        for report in &subscribers {
            for (outcome, value) in [
                ("delivered", report.delivered),
                ("skipped", report.skipped),
                ("failed", report.failed),
                ("retried", report.retried),
                ("deferred", report.deferred),
            ] {
                let label = DeliveryLabel {
                    subscriber: report.id.clone(),
                    outcome,
                };
                ConstCounter::new(value).encode(family.encode_family(&label)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "retries",
            "Deliveries scheduled for another attempt, by subscriber",
            None,
            MetricType::Counter,
        )?;
        for report in &subscribers {
            let label = ActorLabel {
                actor: report.id.clone(),
            };
            ConstCounter::new(report.retried).encode(family.encode_family(&label)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "actor_restarts",
            "Actor restarts by their supervisor",
            None,
            MetricType::Counter,
        )?;
        for report in &reports {
            let label = ActorLabel {
                actor: report.id.clone(),
            };
            ConstCounter::new(report.restarts).encode(family.encode_family(&label)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "queue_depth",
            "Deliveries held in memory and waiting to start, by actor",
            None,
            MetricType::Gauge,
        )?;
        for report in &reports {
            let label = ActorLabel {
                actor: report.id.clone(),
            };
            ConstGauge::new(report.queued as i64).encode(family.encode_family(&label)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "in_flight",
            "Deliveries running now, by subscriber",
            None,
            MetricType::Gauge,
        )?;
        for report in &subscribers {
            let label = ActorLabel {
                actor: report.id.clone(),
            };
            ConstGauge::new(report.in_flight as i64).encode(family.encode_family(&label)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "delivery_duration_seconds",
            "Time one delivery attempt took, by subscriber",
            None,
            MetricType::Histogram,
        )?;
        for health in self
            .board
            .actors()
            .iter()
            .filter(|a| a.role == "subscriber")
        {
            let label = ActorLabel {
                actor: health.id.clone(),
            };
            health.latency.encode(family.encode_family(&label)?)?;
        }
        Ok(())
    }
}

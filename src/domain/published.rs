//! The event every subscriber sees: validated, enriched, recorded. It is
//! what the journal stores at intake, so the admin's view of an event is
//! exactly what its subscribers received.

use std::sync::Arc;

use serde_json::Value;

use super::enrichment::{EnrichedDeployment, EnrichmentSettings, enrich};
use super::event::{Deployment, Event, EventKind, FieldError, PipelineError, Recommendation};
use super::id::EventId;

/// An accepted event after enrichment (only deployments change).
// Not boxed: one short-lived event per request, and plain variants keep
// matching simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrichedEvent {
    Deployment(EnrichedDeployment),
    Error(PipelineError),
    Recommendation(Recommendation),
}

impl EnrichedEvent {
    pub fn enrich(event: Event, settings: &EnrichmentSettings) -> Self {
        match event {
            Event::Deployment(deployment) => {
                EnrichedEvent::Deployment(enrich(deployment, settings))
            }
            Event::Error(error) => EnrichedEvent::Error(error),
            Event::Recommendation(recommendation) => EnrichedEvent::Recommendation(recommendation),
        }
    }

    /// Reads what the journal stored, taking enriched values as they are.
    pub fn from_stored(kind: EventKind, body: Value) -> Result<Self, FieldError> {
        Ok(match kind {
            EventKind::Deployment => EnrichedEvent::Deployment(EnrichedDeployment::from_stored(
                Deployment::from_json(body)?,
            )),
            EventKind::Error => EnrichedEvent::Error(PipelineError::from_json(body)?),
            EventKind::Recommendation => {
                EnrichedEvent::Recommendation(Recommendation::from_json(body)?)
            }
        })
    }

    pub fn kind(&self) -> EventKind {
        match self {
            EnrichedEvent::Deployment(_) => EventKind::Deployment,
            EnrichedEvent::Error(_) => EventKind::Error,
            EnrichedEvent::Recommendation(_) => EventKind::Recommendation,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            EnrichedEvent::Deployment(d) => d.to_json(),
            EnrichedEvent::Error(e) => e.to_json(),
            EnrichedEvent::Recommendation(r) => r.to_json(),
        }
    }

    /// The application and cluster the event is about: a deployment's own,
    /// or an error's when the pipeline sent them along (as the unknown
    /// fields `applicationName` and `cluster`); a recommendation names
    /// neither. Used to filter the event list and to store failures.
    pub fn attribution(&self) -> (Option<String>, Option<String>) {
        match self {
            EnrichedEvent::Deployment(d) => {
                (Some(d.application_name.clone()), Some(d.cluster.clone()))
            }
            EnrichedEvent::Error(error) => {
                let text = |name: &str| {
                    error
                        .extra
                        .get(name)
                        .and_then(Value::as_str)
                        .map(super::text::clean)
                        .filter(|value| !value.is_empty())
                };
                (text("applicationName"), text("cluster"))
            }
            EnrichedEvent::Recommendation(_) => (None, None),
        }
    }

    pub fn deployment(&self) -> Option<&EnrichedDeployment> {
        match self {
            EnrichedEvent::Deployment(d) => Some(d),
            _ => None,
        }
    }
}

/// An enriched event with its id and when it was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedEvent {
    pub id: EventId,
    /// Unix milliseconds.
    pub received_at: i64,
    pub event: EnrichedEvent,
    /// The event as stored and as templates see it: made once, shared by
    /// every subscriber.
    pub json: Arc<Value>,
}

impl PublishedEvent {
    pub fn new(id: EventId, received_at: i64, event: EnrichedEvent) -> Self {
        let json = Arc::new(event.to_json());
        PublishedEvent {
            id,
            received_at,
            event,
            json,
        }
    }

    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stored_deployment_reads_back_as_it_was_enriched() {
        let event = Event::parse(
            EventKind::Deployment,
            json!({"applicationName": "a", "cluster": "active", "applicationPath": "/a"}),
        )
        .unwrap();
        let enriched = EnrichedEvent::enrich(event, &EnrichmentSettings::default());
        let stored = enriched.to_json();
        assert_eq!(stored["monitorUrl"], "https://app.kth.se/a/_monitor");
        // Read back under other settings: the stored values stand.
        let read = EnrichedEvent::from_stored(EventKind::Deployment, stored).unwrap();
        assert_eq!(read, enriched);
    }
}

//! Alvares' event model and deployment enrichment (BEHAVIOUR.md §1 and §2).
//! Pure data handling: no I/O, no environment access. Everything else may
//! use it; it uses nothing of Alvares.

pub mod bounds;
pub mod enrichment;
pub mod event;
pub mod history;
pub mod id;
pub mod links;
pub mod markdown;
pub mod matching;
pub mod plan;
pub mod published;
pub mod silence;
pub mod silence_set;
pub mod slack_text;
pub mod text;

pub use enrichment::{
    ClusterHosts, DEFAULT_MONITOR_KEYWORD, EnrichedDeployment, EnrichmentSettings, TeamMarker,
    clean_application_path, deployment_host, enrich, is_counting_monitor_url, join,
};
pub use event::{Deployment, Event, EventKind, FieldError, PipelineError, Recommendation};
pub use id::EventId;
pub use plan::{Destination, PlannedDestination};
pub use published::{EnrichedEvent, PublishedEvent};
pub use text::{clean, split_list};

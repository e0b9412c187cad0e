//! Alvares' event model and deployment enrichment (BEHAVIOUR.md §1 and §2).
//! Pure data handling: no I/O, no environment access.

pub mod enrichment;
pub mod event;
pub mod text;

pub use enrichment::{
    ClusterHosts, DEFAULT_MONITOR_KEYWORD, EnrichmentSettings, TeamMarker, clean_application_path,
    deployment_host, enrich, is_counting_monitor_url, join,
};
pub use event::{Deployment, Event, EventKind, FieldError, PipelineError, Recommendation};
pub use text::{clean, split_list};

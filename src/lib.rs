//! Alvares: the integration hub of a container deployment pipeline.
//!
//! An event's path, top to bottom: `routes::intake` (parse at the edge) →
//! `pipeline::intake` (accept, answer 202) → `pipeline::enricher` →
//! `pipeline::registry` → one supervised actor per subscriber
//! (`subscribers`), each delivering to its integration.

pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod logging;
pub mod pipeline;
pub mod routes;
pub mod startup;
pub mod store;
pub mod subscribers;

//! Alvares: the integration hub of a container deployment pipeline.
//!
//! An event's path, top to bottom: `routes::intake` (parse at the edge) →
//! `pipeline::intake` (give it an id) → `pipeline::enricher` (enrich, plan,
//! record, answer 202) → `pipeline::registry` → one supervised actor per
//! subscriber (`engine::actor`), each delivering to its integration
//! (`subscribers`).
//!
//! Dependencies point one way: `clock` and `domain` at the bottom, then
//! `config` and `error`, `store`, `engine`, `slack` (a service the
//! integrations share), `subscribers`, `pipeline`,
//! `routes`, and `startup`/`cli` on top. No module imports one that
//! imports it back (a test checks).

pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod healthcheck;
pub mod logging;
pub mod pipeline;
pub mod routes;
pub mod slack;
pub mod startup;
pub mod store;
pub mod subscribers;
pub mod templates;

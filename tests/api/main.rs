//! The one integration-test binary: each file is an area.

mod admin;
mod cli;
mod console;
mod crash;
mod delivery;
mod detectify;
mod helpers;
mod intake;
mod journal;
mod lighthouse;
mod replicas;
mod schema_validation;
mod secrets;
mod shutdown;
mod slack;
mod subscribers;
mod supervision;
mod uptimerobot;

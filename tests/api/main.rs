//! The one integration-test binary: each file is an area.

mod cli;
mod crash;
mod detectify;
mod helpers;
mod intake;
mod journal;
mod lighthouse;
mod schema_validation;
mod secrets;
mod slack;
mod subscribers;
mod supervision;
mod uptimerobot;

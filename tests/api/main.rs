//! The one integration-test binary: each file is an area.

mod cli;
mod helpers;
mod intake;
mod schema_validation;
mod secrets;
mod slack;
mod subscribers;
mod supervision;

//! One file per table: its row structs, its insertable form and its
//! queries.

pub mod deliveries;
pub mod deployments;
pub mod events;
pub mod failures;
pub mod once_per;
pub mod replicas;
pub mod silences;
pub mod subscriber_settings;

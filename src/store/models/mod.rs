//! One file per table: its row structs, its insertable form and its
//! queries.

pub mod deliveries;
pub mod deployments;
pub mod events;
pub mod replicas;
pub mod subscriber_settings;

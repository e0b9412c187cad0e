//! The admin API under `/admin`, behind `ADMIN_TOKEN`
//! (`Authorization: Bearer`), one area a file: the token check
//! (`access`), what every actor is doing (`actors`), the on/off switch of
//! each subscriber (`switches`), the dead letters and their replay
//! (`dead_letters`), recent events (`events`). Without `ADMIN_TOKEN` every
//! route answers 403 saying how to enable it.

pub mod access;
pub mod actors;
pub mod dead_letters;
pub mod events;
pub mod switches;

pub use access::{Admin, AdminAccess};

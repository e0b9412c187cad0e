//! The delivery engine: everything an integration gets for free. The
//! generic supervised subscriber actor, the delivery state machine and its
//! retry schedule, the circuit breaker, rate limits and slots, the one
//! outbound HTTP layer, actor health, and the supervision of the core
//! actors. It knows no integration: shared services such as the Slack
//! client (the `slack` module) reach integrations through [`Services`].
//!
//! It depends on the domain, the store and the configuration; integrations
//! (`subscribers`) depend on it and on the domain only.

pub mod actor;
pub mod attempt;
pub mod change;
pub mod circuit;
pub mod conformance;
pub mod declared;
pub mod guard;
pub mod health;
pub mod outbound;
pub mod parts;
pub mod rate_limit;
pub mod registration;
pub mod restart;
pub mod retry;
pub mod slots;
pub mod subscriber;

pub use actor::{ActorLimits, ActorParts, DeadLettered, Deliver, Drain};
pub use conformance::{Conformance, ConformanceBench};
pub use health::{ActorHealth, ActorReport, ActorState, Availability, Role};
pub use registration::{Integration, Plans, Preview, Registration, StartedActor};
pub use retry::RetryPolicy;
pub use subscriber::{
    DeliveryContext, DeliveryOutcome, Input, Planning, Progress, Services, Setup, Subscriber,
    TemplateContext, Work,
};

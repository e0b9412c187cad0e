//! Subscribers: one folder per integration, each a type implementing
//! [`Subscriber`] (the engine's trait, re-exported here with what an
//! integration uses), and [`registrations`], the one alphabetised list.
//!
//! An integration imports only the domain, the engine's API and the shared
//! services (the Slack client, `crate::slack`); it never borrows from
//! another integration (shared needs move down, into the engine or a
//! shared service).

pub mod application_endpoint;
pub mod database;
pub mod detectify;
pub mod flottsbro;
pub mod lighthouse;
pub mod slack_deployment;
pub mod slack_error;
pub mod slack_recommendation;
pub mod uptimerobot;
pub mod webhook;

pub use crate::domain::PlannedDestination;
pub use crate::engine::{
    DeliveryContext, DeliveryOutcome, Input, Planning, Progress, Registration, Setup, Subscriber,
    Work,
};

/// The subscribers the operator file declares (its webhooks).
pub fn declared(operator: &crate::config::OperatorConfig) -> Vec<Registration> {
    webhook::registrations(operator)
}

/// Every subscriber this build knows, alphabetised by id.
pub fn registrations() -> Vec<Registration> {
    vec![
        Registration::of::<application_endpoint::ApplicationEndpoint>(),
        Registration::of::<database::Database>(),
        Registration::of::<detectify::Detectify>(),
        Registration::of::<flottsbro::Flottsbro>(),
        Registration::of::<lighthouse::Lighthouse>(),
        Registration::of::<slack_deployment::SlackDeployment>(),
        Registration::of::<slack_error::SlackError>(),
        Registration::of::<slack_recommendation::SlackRecommendation>(),
        Registration::of::<uptimerobot::UptimeRobot>(),
    ]
}

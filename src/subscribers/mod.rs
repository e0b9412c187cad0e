//! Subscribers: one folder per integration, each a type implementing
//! [`Subscriber`] (the engine's trait, re-exported here with what an
//! integration uses), and [`integrations`], the one alphabetised list.
//!
//! Every folder holds the same files: `mod.rs` (the subscriber: where it
//! sends and how it delivers), `config.rs` (what it reads to be
//! configured), `payload.rs` (what it sends, built without I/O) and
//! `conformance.rs` (how the shared conformance test configures it).
//!
//! An integration imports only the domain, the engine's API and the shared
//! services (the Slack client, `crate::slack`); it never borrows from
//! another integration (shared needs move down, into the engine or a
//! shared service).

pub mod application_endpoint;
pub mod database;
pub mod detectify;
pub mod discord;
pub mod email;
pub mod flottsbro;
pub mod github;
pub mod google_chat;
pub mod grafana;
pub mod lighthouse;
pub mod mattermost;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack_deployment;
pub mod slack_error;
pub mod slack_recommendation;
pub mod teams;
pub mod uptimerobot;
pub mod webhook;

use crate::chat::{self, ChatWebhook};
pub use crate::domain::PlannedDestination;
pub(crate) use crate::engine::declared::declared_items;
pub use crate::engine::declared::{self, Declared};
pub use crate::engine::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, Input, Integration, Planning,
    Progress, Registration, Setup, Subscriber, Work,
};

/// Every integration this build knows, alphabetised by id: the one list
/// the registry, the admin routes, health, `render` and the tests derive
/// theirs from. Adding an integration is its folder and one line here.
pub fn integrations() -> Vec<Integration> {
    vec![
        Integration::builtin::<application_endpoint::ApplicationEndpoint>(),
        Integration::builtin::<database::Database>(),
        Integration::builtin::<detectify::Detectify>(),
        Integration::declared::<ChatWebhook<discord::Discord>>(
            chat::registrations::<discord::Discord>,
        ),
        Integration::declared::<email::Email>(email::registrations),
        Integration::builtin::<flottsbro::Flottsbro>(),
        Integration::declared::<github::GitHub>(github::registrations),
        Integration::declared::<ChatWebhook<google_chat::GoogleChat>>(
            chat::registrations::<google_chat::GoogleChat>,
        ),
        Integration::declared::<grafana::Grafana>(grafana::registrations),
        Integration::builtin::<lighthouse::Lighthouse>(),
        Integration::declared::<ChatWebhook<mattermost::Mattermost>>(
            chat::registrations::<mattermost::Mattermost>,
        ),
        Integration::declared::<opsgenie::Opsgenie>(opsgenie::registrations),
        Integration::declared::<pagerduty::PagerDuty>(pagerduty::registrations),
        Integration::builtin::<slack_deployment::SlackDeployment>(),
        Integration::builtin::<slack_error::SlackError>(),
        Integration::builtin::<slack_recommendation::SlackRecommendation>(),
        Integration::declared::<ChatWebhook<teams::Teams>>(chat::registrations::<teams::Teams>),
        Integration::builtin::<uptimerobot::UptimeRobot>(),
        Integration::declared::<webhook::WebhookDestination>(webhook::registrations),
    ]
}

/// The built-in subscribers, alphabetised by id.
pub fn registrations() -> Vec<Registration> {
    builtins(&integrations())
}

/// The subscribers the operator file declares (its webhooks).
pub fn declared(operator: &crate::config::OperatorConfig) -> Vec<Registration> {
    integrations()
        .iter()
        .filter(|integration| matches!(integration, Integration::Declared { .. }))
        .flat_map(|integration| integration.registrations(operator))
        .collect()
}

/// The built-in subscribers of `integrations`.
pub fn builtins(integrations: &[Integration]) -> Vec<Registration> {
    integrations
        .iter()
        .filter_map(|integration| match integration {
            Integration::Builtin(registration) => Some(registration.clone()),
            Integration::Declared { .. } => None,
        })
        .collect()
}

//! What every subscriber declared in the operator file shares (its typed
//! `[[destinations]]`): one registration per entry of its type, its id
//! `<type>-<name>`, its planning (its own `when`, or the routes that name
//! it), and at delivery the entry in force now, or why there is nothing to
//! do. Each type adds only what it sends.

use std::sync::Arc;

use crate::config::file::Webhook;
use crate::config::{ConfigError, Env, OperatorConfig, OperatorView};
use crate::domain::{Destination, PlannedDestination};
use crate::error::DeliveryError;

use super::registration::{Registration, intern};
use super::subscriber::{DeliveryOutcome, Planning, Setup, Subscriber};

/// One declared destination: its entry's name and what reads it.
pub struct Declared {
    pub id: &'static str,
    pub name: String,
    operator: OperatorView,
    env: Env,
}

/// The entry in force at a delivery.
pub struct InForce {
    pub operator: Arc<OperatorConfig>,
    pub declared: Webhook,
    /// Where it goes as planned (the `$VARIABLE` of its URL, or its API).
    pub planned: String,
}

/// A registration for every `[[destinations]]` entry of type `S::ID`,
/// each made by `make` from its name.
pub fn registrations<S: Subscriber>(
    operator: &OperatorConfig,
    make: fn(&str, &Setup<'_>) -> Result<Option<S>, ConfigError>,
) -> Vec<Registration> {
    operator
        .webhooks
        .iter()
        .filter(|declared| declared.destination_type == Some(S::ID))
        .map(|declared| {
            let name = declared.name.clone();
            Registration::declared(
                &declared.id,
                &declared.kinds,
                declared.rate_limit,
                move |setup| make(&name, setup),
            )
        })
        .collect()
}

impl Declared {
    /// Destination `name` of type `type_name`; `None` once the file no
    /// longer declares it.
    pub fn of(type_name: &str, name: &str, setup: &Setup<'_>) -> Option<Self> {
        setup.operator.borrow().webhook(name)?;
        Some(Declared {
            id: intern(&format!("{type_name}-{name}")),
            name: name.to_owned(),
            operator: setup.operator.clone(),
            env: setup.settings.env.clone(),
        })
    }

    /// Its destination for an event, when its own `when` or a route sends
    /// the event here.
    pub fn destinations(&self, planning: &Planning<'_>) -> Vec<PlannedDestination> {
        let operator = planning.operator;
        operator
            .webhook(&self.name)
            .map(|declared| operator.planned_webhook(declared, planning.kind, planning.json))
            .unwrap_or_default()
    }

    /// The entry in force now and where the event was planned to go, or
    /// the skip that says why nothing is sent.
    pub fn in_force(&self, destinations: &[Destination]) -> Result<InForce, DeliveryOutcome> {
        let operator = self.operator.borrow();
        let Some(declared) = operator.webhook(&self.name).cloned() else {
            return Err(DeliveryOutcome::Skipped(
                "the destination is no longer in the configuration".into(),
            ));
        };
        let Some(planned) = destinations.iter().find_map(|d| match d {
            Destination::Webhook { url, .. } => Some(url.clone()),
            _ => None,
        }) else {
            return Err(DeliveryOutcome::Skipped(
                "no route sends it here (as planned)".into(),
            ));
        };
        Ok(InForce {
            operator,
            declared,
            planned,
        })
    }

    /// The entry in force now, for a preview.
    pub fn current(&self) -> Option<(Arc<OperatorConfig>, Webhook)> {
        let operator = self.operator.borrow();
        let declared = operator.webhook(&self.name)?.clone();
        Some((operator, declared))
    }

    /// A variable's value, read at each attempt (a changed secret applies).
    pub fn variable(&self, variable: &str) -> Result<&str, DeliveryError> {
        self.env
            .get(variable)
            .ok_or_else(|| DeliveryError::Permanent(format!("${variable} is not set")))
    }

    /// The key its `key_env` names.
    pub fn key(&self, declared: &Webhook) -> Result<&str, DeliveryError> {
        self.variable(declared.key_variable.as_deref().unwrap_or_default())
    }
}

/// The items every declared subscriber's [`Subscriber`] impl shares, given
/// inside it: its id is its entry's (`<type>-<name>`, in its `declared`
/// field), its conformance is its folder's `conformance::conformance`, it
/// is made by its `registrations` (never from the environment alone), and
/// it goes where its own `when` or a route sends the event.
macro_rules! declared_items {
    () => {
        fn id(&self) -> &'static str {
            self.declared.id
        }

        fn conformance(
            bench: &$crate::engine::ConformanceBench<'_>,
        ) -> $crate::engine::Conformance {
            conformance::conformance(bench)
        }

        fn from_config(
            _setup: &$crate::engine::Setup<'_>,
        ) -> Result<Option<Self>, $crate::config::ConfigError> {
            // Declared ones are made by `registrations`, one per entry.
            Ok(None)
        }

        fn destinations(
            &self,
            _event: &$crate::domain::EnrichedEvent,
            planning: &$crate::engine::Planning<'_>,
        ) -> Vec<$crate::domain::PlannedDestination> {
            self.declared.destinations(planning)
        }
    };
}
pub(crate) use declared_items;

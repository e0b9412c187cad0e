//! What a webhook reads: its declaration in the operator file (method,
//! URL or the variable holding it, headers, template, signing secret; see
//! `crate::config::file`), read again at each attempt so a reload applies,
//! and the environment a `$VARIABLE` URL is read from.

use super::WebhookDestination;
use crate::subscribers::Setup;

impl WebhookDestination {
    pub(super) fn new(name: &str, setup: &Setup<'_>) -> Option<Self> {
        setup.operator.borrow().webhook(name)?;
        Some(WebhookDestination {
            id: crate::engine::registration::intern(&format!("webhook-{name}")),
            name: name.to_owned(),
            operator: setup.operator.clone(),
            env: setup.settings.env.clone(),
        })
    }
}

//! The configuration in force as `GET /admin/config` and `check-config`
//! show it: everything, secrets only by the variable that holds them.

use std::collections::BTreeMap;

use super::{MailAddressing, OncePer, OperatorConfig, Route, Webhook};
use crate::domain::EventKind;

impl OperatorConfig {
    /// The configuration as `GET /admin/config` and `check-config` show
    /// it: everything in force, secrets only by the variable that holds
    /// them.
    pub fn summary(&self) -> ConfigSummary {
        ConfigSummary {
            file: self.source.as_ref().map(|p| p.display().to_string()),
            settings: self.settings.clone(),
            routes: self.routes.iter().map(RouteSummary::of).collect(),
            templates: TemplatesSummary {
                replaced: self
                    .templates
                    .replaced()
                    .iter()
                    .filter(|n| !n.starts_with("webhook:"))
                    .cloned()
                    .collect(),
                built_in: crate::templates::built_in_names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            },
            webhooks: self.webhooks.iter().map(WebhookSummary::of).collect(),
        }
    }
}

/// The kinds shown: every kind when none is named.
fn kinds(kinds: &[EventKind]) -> Vec<EventKind> {
    if kinds.is_empty() {
        EventKind::ALL.to_vec()
    } else {
        kinds.to_vec()
    }
}

impl OncePerSummary {
    fn of(once_per: &Option<OncePer>) -> Option<Self> {
        once_per.as_ref().map(|o| OncePerSummary {
            fields: o.fields.clone(),
            window: humantime::format_duration(o.window).to_string(),
        })
    }
}

impl RouteSummary {
    fn of(r: &Route) -> Self {
        RouteSummary {
            name: r.name.clone(),
            kinds: kinds(&r.kinds),
            when: r.when.describe(),
            slack_channels: r.slack_channels.clone(),
            only: r.only,
            never_channels: r.never_channels.clone(),
            webhooks: r.webhooks.clone(),
            once_per: OncePerSummary::of(&r.once_per),
        }
    }
}

impl WebhookSummary {
    fn of(w: &Webhook) -> Self {
        WebhookSummary {
            name: w.name.clone(),
            destination_type: w.destination_type.unwrap_or("webhook").to_owned(),
            subscriber: w.id.clone(),
            url: w.url_source.clone(),
            method: w.method.clone(),
            headers: w.headers.keys().cloned().collect(),
            kinds: kinds(&w.kinds),
            when: w.when.describe(),
            routed: w.routed,
            signed_with: w.secret_env.as_ref().map(|v| format!("${v}")),
            key: w.key_variable.as_ref().map(|v| format!("${v}")),
            mail: w.mail.as_ref().map(MailSummary::of),
            repositories: w.repositories.clone(),
            once_per: OncePerSummary::of(&w.once_per),
            rate_limit: w.rate_limit.map(|l| l.to_string()),
        }
    }
}

/// The configuration in force, as shown (secrets only by their variable).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSummary {
    /// The file (`ALVARES_CONFIG`); null without one.
    pub file: Option<String>,
    /// The file's `[settings]` (variables that are set win over them).
    pub settings: BTreeMap<String, String>,
    pub routes: Vec<RouteSummary>,
    pub templates: TemplatesSummary,
    pub webhooks: Vec<WebhookSummary>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSummary {
    pub name: String,
    pub kinds: Vec<EventKind>,
    /// E.g. `cluster = active and team = team-*`.
    pub when: String,
    pub slack_channels: Vec<String>,
    pub only: bool,
    pub never_channels: Vec<String>,
    pub webhooks: Vec<String>,
    pub once_per: Option<OncePerSummary>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OncePerSummary {
    pub fields: Vec<String>,
    /// E.g. `1h`.
    pub window: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplatesSummary {
    /// Built-in templates the file replaces.
    pub replaced: Vec<String>,
    pub built_in: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSummary {
    pub name: String,
    /// `webhook` for a `[[webhooks]]` entry, else the destination's type
    /// (`teams`, …).
    #[serde(rename = "type")]
    pub destination_type: String,
    /// Its subscriber id, `webhook-<name>` (`<type>-<name>` for a
    /// destination).
    pub subscriber: String,
    /// The URL, or `$VARIABLE` when it comes from one (a secret).
    pub url: String,
    pub method: String,
    /// The names of its extra headers (values not shown).
    pub headers: Vec<String>,
    pub kinds: Vec<EventKind>,
    pub when: String,
    pub routed: bool,
    /// `$VARIABLE` holding its `whsec_` secret; null when unsigned.
    pub signed_with: Option<String>,
    /// A destination's `$VARIABLE` holding its API key; null without one.
    pub key: Option<String>,
    /// A mail destination's sender and recipients; null for any other.
    pub mail: Option<MailSummary>,
    /// Each application's repository, for a type that acts on them
    /// (GitHub); empty for any other.
    pub repositories: BTreeMap<String, String>,
    pub once_per: Option<OncePerSummary>,
    pub rate_limit: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MailSummary {
    pub from: String,
    /// Who gets every message.
    pub to: Vec<String>,
    /// Who also gets an event of each team (by its `team`).
    pub teams: BTreeMap<String, String>,
}

impl MailSummary {
    fn of(mail: &MailAddressing) -> Self {
        MailSummary {
            from: mail.from.clone(),
            to: mail.to.clone(),
            teams: mail.teams.clone(),
        }
    }
}

//! The operator file as written: each part with its place in the file,
//! before anything is checked.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::domain::EventKind;

/// The file as written, each part with its place in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSpec {
    #[serde(default)]
    pub(super) settings: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    pub(super) routes: Vec<RouteSpec>,
    #[serde(default)]
    pub(super) templates: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub(super) webhooks: Vec<WebhookSpec>,
    #[serde(default)]
    pub(super) destinations: Vec<DestinationSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteSpec {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) kinds: Vec<EventKind>,
    #[serde(default)]
    pub(super) when: BTreeMap<Spanned<String>, Spanned<Patterns>>,
    #[serde(default)]
    pub(super) slack_channels: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) only: bool,
    #[serde(default)]
    pub(super) never_channels: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) webhooks: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) destinations: Vec<Spanned<String>>,
    pub(super) once_per: Option<Spanned<OncePerSpec>>,
}

/// One pattern or a list of them; each of a list keeps its own place, so
/// a bad glob is reported at its line.
#[derive(Debug)]
pub(super) enum Patterns {
    One(String),
    Any(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Patterns;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a pattern or a list of patterns")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Patterns, E> {
                Ok(Patterns::One(value.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Patterns, A::Error> {
                let mut all = Vec::new();
                while let Some(pattern) = seq.next_element::<Spanned<String>>()? {
                    all.push(pattern);
                }
                Ok(Patterns::Any(all))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OncePerSpec {
    pub(super) fields: Vec<String>,
    pub(super) window: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookSpec {
    pub(super) name: Spanned<String>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) url_env: Option<Spanned<String>>,
    pub(super) method: Option<Spanned<String>>,
    /// Values that are no secret (the file is checked for secrets).
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    /// Headers whose values are secrets: header name → the variable.
    #[serde(default)]
    pub(super) headers_env: BTreeMap<String, Spanned<String>>,
    pub(super) body: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) kinds: Vec<EventKind>,
    #[serde(default)]
    pub(super) when: BTreeMap<Spanned<String>, Spanned<Patterns>>,
    #[serde(default)]
    pub(super) routed: bool,
    pub(super) secret_env: Option<Spanned<String>>,
    pub(super) once_per: Option<Spanned<OncePerSpec>>,
    pub(super) rate_limit: Option<Spanned<String>>,
}

/// A `[[destinations]]` entry: a destination of a known type (Teams, …),
/// whose URL is a secret in the environment and whose messages come from
/// the type's templates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DestinationSpec {
    pub(super) name: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) type_name: Spanned<String>,
    /// The variable holding its URL (chat webhooks).
    pub(super) url_env: Option<Spanned<String>>,
    /// The variable holding its key (an alerting API's integration key).
    pub(super) key_env: Option<Spanned<String>>,
    /// A mail destination's sender, recipients, and each team's.
    pub(super) from: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) to: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) teams: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Each application's repository (`owner/name`), for GitHub.
    #[serde(default)]
    pub(super) repositories: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub(super) kinds: Vec<EventKind>,
    #[serde(default)]
    pub(super) when: BTreeMap<Spanned<String>, Spanned<Patterns>>,
    #[serde(default)]
    pub(super) routed: bool,
    pub(super) once_per: Option<Spanned<OncePerSpec>>,
    pub(super) rate_limit: Option<Spanned<String>>,
}

//! The environment's primitives: the snapshot every part of the
//! configuration reads ([`Env`]), the start-up error naming a variable,
//! and the value types variables parse into.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use envconfig::Envconfig;

use crate::domain::text::split_list;

/// A start-up configuration problem, always naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is required but not set")]
    Missing { name: String },
    #[error("{name} has an invalid value: {expected}")]
    Invalid { name: String, expected: String },
    #[error("DISABLED_SUBSCRIBERS names unknown subscriber(s) {unknown}; valid ids: {valid}")]
    UnknownSubscriber { unknown: String, valid: String },
}

impl ConfigError {
    pub fn invalid(name: &str, expected: impl Into<String>) -> Self {
        ConfigError::Invalid {
            name: name.to_owned(),
            expected: expected.into(),
        }
    }

    /// A count that must not be zero: `expected` says in what unit.
    pub fn unless_positive(name: &str, value: u64, expected: &str) -> Result<(), Self> {
        if value == 0 {
            Err(ConfigError::invalid(name, expected))
        } else {
            Ok(())
        }
    }

    /// Turns envconfig's error into ours, adding what the variable expects.
    fn from_envconfig(error: envconfig::Error) -> Self {
        match error {
            envconfig::Error::EnvVarMissing { name } => ConfigError::Missing {
                name: name.to_owned(),
            },
            envconfig::Error::ParseError { name } => {
                ConfigError::invalid(name, expected_format(name))
            }
        }
    }
}

/// What a variable must look like, for the start-up error message.
pub(super) fn expected_format(name: &str) -> &'static str {
    if name.ends_with("_HOST") || name.ends_with("_URL") || name.ends_with("_HOOK") {
        "expected an http(s) URL"
    } else if name == "PORT" {
        "expected a port number (1-65535)"
    } else if name == "SQLITE_SYNCHRONOUS" {
        "expected normal or full"
    } else if name == "LOG_FORMAT" {
        "expected text or json"
    } else if name == "RATE_LIMITS" {
        "expected name=<count>/<s|m|h>[:burst=N] or name=none items, comma-separated"
    } else if name == "RETRY_SCHEDULE" {
        "expected comma-separated waits such as 1s, 5s, 30s, 2m, 1h"
    } else {
        "expected a whole number"
    }
}

/// A snapshot of the environment variables, with empty values treated as
/// unset (`SLACK_WEB_HOOK=` in a manifest means "no webhook").
#[derive(Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    pub fn from_map(map: HashMap<String, String>) -> Self {
        Env(map
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(key, value)| (key, value.trim().to_owned()))
            .collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every variable set, name and value.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// This snapshot with `defaults` (the operator file's `[settings]`)
    /// under it: a variable that is set wins.
    pub fn with_defaults(mut self, defaults: &std::collections::BTreeMap<String, String>) -> Self {
        for (name, value) in defaults {
            if !value.trim().is_empty() {
                self.0
                    .entry(name.clone())
                    .or_insert_with(|| value.trim().to_owned());
            }
        }
        self
    }

    /// Reads one envconfig struct from this snapshot.
    pub fn load<T: Envconfig>(&self) -> Result<T, ConfigError> {
        T::init_from_hashmap(&self.0).map_err(ConfigError::from_envconfig)
    }
}

// Debug never prints values: the snapshot holds tokens and webhook URLs.
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Env({} variables)", self.0.len())
    }
}

/// A value that must never be printed: tokens, keys, passwords, webhooks.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The only way to the value; call it where the value is sent, not logged.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: FromStr> FromStr for Secret<T> {
    type Err = T::Err;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        T::from_str(s).map(Secret)
    }
}

/// An absolute http or https URL, kept as written (a trailing `/` matters
/// to some hosts' joins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for HttpUrl {
    type Err = url::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = url::Url::parse(s)?;
        match parsed.scheme() {
            "http" | "https" if parsed.has_host() => Ok(HttpUrl(s.to_owned())),
            _ => Err(url::ParseError::RelativeUrlWithoutBase),
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A comma-separated list, items cleaned and de-duplicated (BEHAVIOUR §1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl FromStr for List {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(List(split_list(s)))
    }
}

/// `DEBUG`: true, yes or debug (any case) turn on debug logging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugFlag(pub bool);

impl FromStr for DebugFlag {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value = s.trim().to_ascii_lowercase();
        Ok(DebugFlag(matches!(
            value.as_str(),
            "true" | "yes" | "debug"
        )))
    }
}

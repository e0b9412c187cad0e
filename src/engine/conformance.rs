//! What the shared conformance test needs from each integration: how to
//! configure it against a mock destination, which secrets that puts in its
//! hands, and what the events must carry for it to call out. Every
//! integration answers it (`Subscriber::conformance`, in its folder's
//! `conformance.rs`), so the test drives every integration, a new one
//! included, with no edit of its own (`tests/api/conformance.rs`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the test runs an integration.
pub struct ConformanceBench<'a> {
    /// The mock destination's base URL (`http://127.0.0.1:<port>`): it
    /// answers every request alike, whatever the path.
    pub base: &'a str,
    /// A folder for the files it needs (`Conformance::files`); it lives as
    /// long as the run.
    pub scratch: &'a Path,
    /// The project's test fixtures (`tests/fixtures`).
    pub fixtures: &'a Path,
}

/// How to run one integration in the conformance test.
#[derive(Debug, Default)]
pub struct Conformance {
    /// The variables that configure it against `bench.base`.
    pub variables: Vec<(String, String)>,
    /// Files the test writes before starting it (a scanner script, say):
    /// path and content.
    pub files: Vec<(PathBuf, String)>,
    /// The operator file to load, for an integration declared there (a
    /// webhook); its declarations are what is tested.
    pub operator_file: Option<String>,
    /// Every secret among `variables`: none may appear in an error, the
    /// event view, health, metrics or the log.
    pub secrets: Vec<String>,
    /// Fields every test event carries besides its kind's own, so that
    /// the integration calls out (a Detectify profile token, say).
    pub event_fields: serde_json::Map<String, Value>,
    /// It calls out over HTTP, so the destination's answer decides its
    /// outcome (false for the history, which writes to the service's own
    /// database).
    pub calls_out: bool,
    /// It runs with nothing configured (the history); every other
    /// integration is `unconfigured` then and skips.
    pub runs_unconfigured: bool,
}

impl Conformance {
    /// An integration configured by `variables` that calls out.
    pub fn calling_out(variables: &[(&str, String)], secrets: &[&str]) -> Self {
        Conformance {
            variables: variables
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            calls_out: true,
            ..Conformance::default()
        }
    }

    /// The same with `fields` in every event.
    pub fn with_event_fields(mut self, fields: Value) -> Self {
        if let Value::Object(fields) = fields {
            self.event_fields.extend(fields);
        }
        self
    }
}

//! Sample events of each kind (the test fixtures, copied here so that the
//! binary carries them), for rendering every template before it is put in
//! force: `check-config`, start-up and reloads refuse a template that
//! reaches a limit or fails on the sample of a kind it is used for.
//!
//! A value the sample lacks is not a reason to refuse: real events carry
//! fields no sample can foresee (`event.applicationName` in an error, an
//! `x-` label). Such a template is still bounded when it runs.

use serde_json::{Map, Value};

use super::{Failure, TemplateError, Templates, built_in};
use crate::domain::{EnrichedEvent, Event, EventKind};

const DEPLOYMENT: &str = include_str!("samples/deployment.json");
const ERROR: &str = include_str!("samples/error.json");
const RECOMMENDATION: &str = include_str!("samples/recommendation.json");

/// A template and the kinds of events it renders (none named: every kind),
/// besides the built-in ones, whose kinds are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateUse {
    pub name: String,
    pub kinds: Vec<EventKind>,
}

/// The sample event of `kind`, enriched as intake enriches it.
fn sample_event(kind: EventKind) -> Value {
    let text = match kind {
        EventKind::Deployment => DEPLOYMENT,
        EventKind::Error => ERROR,
        EventKind::Recommendation => RECOMMENDATION,
    };
    let value: Value = serde_json::from_str(text).expect("a sample is JSON");
    let event = Event::parse(kind, value).expect("a sample is a valid event");
    EnrichedEvent::enrich(event, &Default::default()).to_json()
}

/// What template `name` sees for the sample of `kind`: what every template
/// sees, and what its subscriber adds (see the module `templates`).
fn sample_context(name: &str, kind: EventKind) -> Map<String, Value> {
    let event = sample_event(kind);
    let mut context = Map::new();
    context.insert("event".into(), event.clone());
    context.insert("id".into(), "0192f5c4-7d3a-7000-8000-000000000000".into());
    context.insert("kind".into(), kind.as_str().into());
    context.insert("received_at".into(), "2026-01-15T10:00:00.000Z".into());
    if let Some(template) = built_in().into_iter().find(|t| t.name == name) {
        (template.sample_values)(&event, &mut context);
    }
    context
}

/// Renders each built-in template, and each of `uses` for every kind it
/// takes, against the sample; the first refusal is the error.
pub(super) fn check(templates: &Templates, uses: &[TemplateUse]) -> Result<(), TemplateError> {
    let built_ins = built_in();
    let built_in_uses = built_ins
        .iter()
        .map(|template| (template.name.to_owned(), template.kind));
    let declared = uses.iter().flat_map(|used| {
        let kinds = if used.kinds.is_empty() {
            EventKind::ALL.to_vec()
        } else {
            used.kinds.clone()
        };
        kinds.into_iter().map(|kind| (used.name.clone(), kind))
    });
    for (name, kind) in built_in_uses.chain(declared) {
        let context = sample_context(&name, kind);
        // The built-in ones are messages: they must be JSON objects (but for
        // a family of documents).
        let rendered = if built_ins.iter().any(|t| t.name == name) && super::renders_json(&name) {
            templates.render_json(&name, &context).map(drop)
        } else {
            templates.render(&name, &context).map(drop)
        };
        match rendered {
            Err(error) if error.failure != Failure::Undefined => {
                return Err(TemplateError {
                    detail: format!("with the sample {kind}: {}", error.detail),
                    ..error
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_are_the_fixtures() {
        let fixture = |name| {
            let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let sample = |text| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(sample(DEPLOYMENT), fixture("deployment.json"));
        assert_eq!(sample(ERROR), fixture("error.json"));
        let mut first = fixture("recommendations.json")[0].clone();
        first
            .as_object_mut()
            .unwrap()
            .remove("expected-enriched-values");
        assert_eq!(sample(RECOMMENDATION), first);
    }

    #[test]
    fn the_built_in_templates_pass() {
        Templates::default().check_against_samples(&[]).unwrap();
    }
}

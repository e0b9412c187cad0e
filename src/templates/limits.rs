//! What one render may use: instructions (minijinja's fuel), nesting,
//! output bytes and wall-clock time. A template that reaches a limit fails
//! with an error naming it, whatever the event: the delivery is a dead
//! letter, never retried (it would reach the same limit again).
//!
//! Every render runs on a thread of its own so that the caller — a
//! subscriber's actor, `check-config`, a reload — waits at most
//! [`TEMPLATE_TIME_LIMIT`]: fuel bounds the instructions, but one
//! instruction (a filter over a long list, a repeated string) can be slow.
//! A render abandoned at the time limit still ends by itself, when its
//! fuel or output runs out.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minijinja::{Environment, ErrorKind, Value};

use super::TemplateError;

/// Instructions one render may execute (minijinja's fuel). The built-in
/// templates use about a hundred; a loop of a million iterations, or an
/// exponential macro, runs out.
pub const TEMPLATE_FUEL: u64 = 1_000_000;
/// Bytes one render may write (a Slack message is at most 40,000
/// characters of text; a webhook body is the whole event at most).
pub const TEMPLATE_MAX_BYTES: usize = 1024 * 1024;
/// How deep calls, loops and includes may nest (minijinja counts a few
/// levels per macro call): minijinja's own default and maximum.
pub const TEMPLATE_RECURSION_LIMIT: usize = 500;
/// How long one render may take on the wall clock: a backstop for slow
/// instructions, well past what the fuel allows a loop (a million
/// instructions took 1.8 s in a debug build on a loaded machine).
pub const TEMPLATE_TIME_LIMIT: Duration = Duration::from_secs(5);

/// A render thread's stack: deep nesting within the recursion limit needs
/// more than a spawned thread's default (it is reserved, not used).
const RENDER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Which limit a template reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Fuel,
    Bytes,
    Recursion,
    Time,
}

impl Limit {
    /// What the template did, for the error (`time_limit`: the one in
    /// force).
    pub fn describe(self, time_limit: Duration) -> String {
        match self {
            Limit::Fuel => format!("ran out of fuel ({TEMPLATE_FUEL} instructions)"),
            Limit::Bytes => format!("rendered more than {TEMPLATE_MAX_BYTES} bytes"),
            Limit::Recursion => {
                format!("nested calls deeper than the recursion limit ({TEMPLATE_RECURSION_LIMIT})")
            }
            Limit::Time => format!(
                "did not finish rendering within {}s",
                time_limit.as_secs_f64()
            ),
        }
    }
}

/// Applies the limits an environment itself enforces.
pub(super) fn limit(environment: &mut Environment<'static>) {
    environment.set_fuel(Some(TEMPLATE_FUEL));
    environment.set_recursion_limit(TEMPLATE_RECURSION_LIMIT);
}

/// Output that refuses to grow past [`TEMPLATE_MAX_BYTES`]: the render
/// stops at the write that would pass it, before anything is sent.
struct BoundedOutput {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl io::Write for BoundedOutput {
    fn write(&mut self, chunk: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + chunk.len() > TEMPLATE_MAX_BYTES {
            self.overflowed = true;
            return Err(io::Error::other("the output limit is reached"));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(chunk.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Renders `name` on this thread, within fuel, nesting and output size.
pub(super) fn render_here(
    environment: &Environment<'static>,
    name: &str,
    context: &Value,
) -> Result<String, TemplateError> {
    let template = environment
        .get_template(name)
        .map_err(|error| TemplateError::of(name, &error))?;
    let mut output = BoundedOutput {
        bytes: Vec::new(),
        overflowed: false,
    };
    let rendered = template.render_captured_to(context, &mut output);
    if output.overflowed {
        return Err(TemplateError::reached(
            name,
            None,
            Limit::Bytes,
            TEMPLATE_TIME_LIMIT,
        ));
    }
    if let Err(error) = rendered {
        let limit = match error.kind() {
            ErrorKind::OutOfFuel => Some(Limit::Fuel),
            ErrorKind::InvalidOperation if error.detail() == Some("recursion limit exceeded") => {
                Some(Limit::Recursion)
            }
            _ => None,
        };
        return Err(match limit {
            Some(limit) => TemplateError::reached(name, error.line(), limit, TEMPLATE_TIME_LIMIT),
            None => TemplateError::of(name, &error),
        });
    }
    // Templates only ever write `str`s, so this never fails.
    String::from_utf8(output.bytes).map_err(|_| TemplateError {
        name: name.to_owned(),
        line: None,
        detail: "it rendered invalid UTF-8".into(),
        failure: super::Failure::Broken,
    })
}

/// Starts rendering `name` on a thread of its own; `reply` gets the
/// result. When no thread can be started the render runs here (still
/// within fuel and size).
pub(super) fn render_apart<F>(
    environment: &Arc<Environment<'static>>,
    name: &str,
    context: Value,
    reply: F,
) where
    F: FnOnce(Result<String, TemplateError>) + Send + 'static,
{
    // Shared, so that it can still be answered here if the thread cannot
    // be started (the closure given to `spawn` is dropped then).
    let reply = Arc::new(Mutex::new(Some(reply)));
    let started = std::thread::Builder::new()
        .name("template-render".into())
        .stack_size(RENDER_STACK_BYTES)
        .spawn({
            let (environment, name, context) =
                (environment.clone(), name.to_owned(), context.clone());
            let reply = reply.clone();
            move || {
                let result = render_here(&environment, &name, &context);
                if let Some(reply) = reply.lock().ok().and_then(|mut r| r.take()) {
                    reply(result);
                }
            }
        });
    if started.is_err()
        && let Some(reply) = reply.lock().ok().and_then(|mut r| r.take())
    {
        log::warn!("template {name}: no thread could be started; rendering in place");
        reply(render_here(environment, name, &context));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use serde_json::json;

    use super::*;
    use crate::templates::{Failure, Templates};

    /// The built-ins with `source` as the slack-error template.
    fn with_error_template(source: &str) -> Templates {
        Templates::compile(&BTreeMap::from([(
            "slack-error".to_owned(),
            source.to_owned(),
        )]))
        .unwrap()
    }

    fn reached(source: &str) -> TemplateError {
        let started = Instant::now();
        let error = with_error_template(source)
            .render("slack-error", &json!({"event": {"message": "m"}}))
            .unwrap_err();
        eprintln!("{source}: {:?} in {:?}", error.failure, started.elapsed());
        error
    }

    #[test]
    fn nested_loops_run_out_of_fuel() {
        let error = reached(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        );
        assert_eq!(error.failure, Failure::Reached(Limit::Fuel));
        assert_eq!(
            error.to_string(),
            "template slack-error line 1: ran out of fuel (1000000 instructions)"
        );
    }

    #[test]
    fn an_exponential_macro_runs_out_of_fuel() {
        let error = reached(
            "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
        );
        assert_eq!(error.failure, Failure::Reached(Limit::Fuel));
    }

    #[test]
    fn endless_recursion_reaches_the_recursion_limit() {
        let error = reached("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        assert_eq!(error.failure, Failure::Reached(Limit::Recursion));
        assert!(
            error
                .to_string()
                .contains("nested calls deeper than the recursion limit (500)"),
            "{error}"
        );
    }

    #[test]
    fn a_loop_that_writes_stops_at_the_output_limit() {
        let error = reached("{% for i in range(100000) %}{{ \"x\" * 100 }}{% endfor %}");
        assert_eq!(error.failure, Failure::Reached(Limit::Bytes));
        assert_eq!(
            error.to_string(),
            "template slack-error: rendered more than 1048576 bytes"
        );
    }

    #[test]
    fn a_long_repeated_string_is_never_the_output() {
        // A time limit that a slow machine cannot reach first: the output
        // limit is what stops it.
        let error = with_error_template("{{ \"x\" * 20000000 }}")
            .with_time_limit(Duration::from_secs(600))
            .render("slack-error", &json!({}))
            .unwrap_err();
        assert_eq!(error.failure, Failure::Reached(Limit::Bytes));
    }

    #[test]
    fn output_just_within_the_limit_is_kept_whole() {
        let source = format!("{{{{ \"x\" * {TEMPLATE_MAX_BYTES} }}}}");
        let text = with_error_template(&source)
            .render("slack-error", &json!({}))
            .unwrap();
        assert_eq!(text.len(), TEMPLATE_MAX_BYTES);
    }

    #[test]
    fn a_render_that_takes_too_long_is_abandoned_at_the_time_limit() {
        // Within its fuel the loop runs for a while (its thread ends by
        // itself when the fuel runs out); the caller waits no longer than
        // the time limit, here a short one.
        let templates = with_error_template(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        )
        .with_time_limit(Duration::from_millis(50));
        let started = Instant::now();
        let error = templates.render("slack-error", &json!({})).unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.failure, Failure::Reached(Limit::Time));
        assert_eq!(
            error.to_string(),
            "template slack-error: did not finish rendering within 0.05s"
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[actix_rt::test]
    async fn the_async_render_is_bounded_the_same_way() {
        let error = with_error_template(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        )
        .render_async("slack-error", &json!({}))
        .await
        .unwrap_err();
        assert_eq!(error.failure, Failure::Reached(Limit::Fuel));
    }

    /// Real templates use a tiny part of each budget: the built-ins, and
    /// the example file's.
    #[test]
    fn the_built_in_templates_use_a_small_part_of_the_limits() {
        let templates = Templates::default();
        let deployment = crate::domain::enrich(
            crate::domain::Deployment::from_json(
                serde_json::from_str(include_str!("samples/deployment.json")).unwrap(),
            )
            .unwrap(),
            &Default::default(),
        );
        let context = json!({
            "event": deployment.to_json(), "logs_url": "https://logs.example/q",
            "change": {"kind": "upgrade", "text": "upgraded from 1 after 2 days"},
            "pipeline_url": "https://app.kth.se/pipeline/#app",
            "monitor": {"url": "https://app.kth.se/app/_monitor", "friendly_name": "app"},
        });
        let error_context = json!({"event": {"message": "m", "stackTrace": "a\nb"}});
        for (name, context) in [
            ("slack-deployment", &context),
            ("application-endpoint", &context),
            ("uptimerobot", &context),
            ("slack-error", &error_context),
            ("slack-recommendation", &error_context),
        ] {
            let template = templates.environment.get_template(name).unwrap();
            let mut output = Vec::new();
            let state = template
                .render_captured_to(Value::from_serialize(context), &mut output)
                .unwrap();
            let (used, _) = state.state().fuel_levels().unwrap();
            eprintln!("{name}: {used} instructions, {} bytes", output.len());
            assert!(used < TEMPLATE_FUEL / 1000, "{name}: {used}");
            assert!(output.len() < TEMPLATE_MAX_BYTES / 500, "{name}");
        }
    }
}

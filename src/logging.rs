//! Logging through `log` + env_logger, in text (the default) or, with
//! `LOG_FORMAT=json`, one JSON object per line for log shippers:
//! `{"timestamp", "level", "target", "message", "request_id", "event_id",
//! "subscriber"}`, plus the line's own fields (`log`'s key-values: the
//! access line's `method`, `path`, `status` and `duration_ms`), which a
//! shipper can index without parsing the message.
//!
//! INFO by default; `DEBUG=true|yes|debug` turns on DEBUG for Alvares's own
//! lines only (the HTTP libraries' debug lines can carry request URLs and
//! headers, which may hold secrets). `RUST_LOG`, when set, wins.
//!
//! The request, event and subscriber a line is about come from the task
//! that logs it: the HTTP middleware runs each request inside a
//! [`LogContext`] with its request id, and a subscriber actor runs each
//! delivery inside one with the event id and its own id, so a line logged
//! anywhere below (the Slack client's, say) carries them without passing
//! them around.

use std::borrow::Cow;
use std::future::Future;
use std::io::Write;
use std::str::FromStr;

use serde_json::{Value, json};

/// `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other}")),
        }
    }
}

/// What a log line is about, when the task logging it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogContext {
    pub request_id: Option<String>,
    pub event_id: Option<String>,
    pub subscriber: Option<&'static str>,
}

tokio::task_local! {
    static CONTEXT: LogContext;
}

impl LogContext {
    /// Runs `work` with this context for every line it logs.
    pub fn scope<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        CONTEXT.scope(self, work)
    }

    /// Runs `work` now with this context for every line it logs.
    pub fn in_scope<R>(self, work: impl FnOnce() -> R) -> R {
        CONTEXT.sync_scope(self, work)
    }

    /// The context of the running task, if any.
    pub fn current() -> LogContext {
        CONTEXT.try_with(Clone::clone).unwrap_or_default()
    }
}

pub fn init(debug: bool, format: LogFormat) {
    let default = if debug { "info,alvares=debug" } else { "info" };
    let env = env_logger::Env::default().default_filter_or(default);
    let mut builder = env_logger::Builder::from_env(env);
    builder.format(move |buf, record| {
        let context = LogContext::current();
        let timestamp = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        match format {
            LogFormat::Json => {
                let mut line = json!({
                    "timestamp": timestamp.to_string(),
                    "level": record.level().as_str(),
                    "target": record.target(),
                    "message": record.args().to_string(),
                    "request_id": context.request_id,
                    "event_id": context.event_id,
                    "subscriber": context.subscriber,
                });
                if let Some(line) = line.as_object_mut() {
                    add_fields(line, record.key_values());
                }
                writeln!(buf, "{line}")
            }
            LogFormat::Text => write_text_line(
                buf,
                &timestamp,
                record.level(),
                record.target(),
                &record.args().to_string(),
                &context,
            ),
        }
    });
    // A second init (tests) is harmless.
    let _ = builder.try_init();
}

/// Adds a line's key-values to its JSON object, numbers and booleans as
/// themselves. A field never replaces one of the line's own (`message`,
/// `level`, …).
fn add_fields(line: &mut serde_json::Map<String, Value>, fields: &dyn log::kv::Source) {
    struct Fields<'a>(&'a mut serde_json::Map<String, Value>);
    impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            let mut json = JsonValue(Value::Null);
            value.visit(&mut json)?;
            self.0.entry(key.as_str()).or_insert(json.0);
            Ok(())
        }
    }
    struct JsonValue(Value);
    impl<'v> log::kv::VisitValue<'v> for &mut JsonValue {
        fn visit_any(&mut self, value: log::kv::Value) -> Result<(), log::kv::Error> {
            self.0 = Value::String(value.to_string());
            Ok(())
        }
        fn visit_u64(&mut self, value: u64) -> Result<(), log::kv::Error> {
            self.0 = value.into();
            Ok(())
        }
        fn visit_i64(&mut self, value: i64) -> Result<(), log::kv::Error> {
            self.0 = value.into();
            Ok(())
        }
        fn visit_f64(&mut self, value: f64) -> Result<(), log::kv::Error> {
            self.0 = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
            Ok(())
        }
        fn visit_bool(&mut self, value: bool) -> Result<(), log::kv::Error> {
            self.0 = value.into();
            Ok(())
        }
        fn visit_str(&mut self, value: &str) -> Result<(), log::kv::Error> {
            self.0 = value.into();
            Ok(())
        }
    }
    // A visitor that fails leaves the fields it had already added.
    let _ = fields.visit(&mut Fields(line));
}

/// One line of the text log. Whatever it quotes came from outside (a
/// channel's name, an error answer), so its control characters are shown
/// escaped (`\n`, `\r`, `\t`, `\u{1b}`): a value holding a newline cannot
/// start a second, forged line.
fn write_text_line(
    out: &mut impl Write,
    timestamp: &impl std::fmt::Display,
    level: log::Level,
    target: &str,
    message: &str,
    context: &LogContext,
) -> std::io::Result<()> {
    write!(
        out,
        "[{timestamp} {level:<5} {}] {}",
        escape_controls(target),
        escape_controls(message)
    )?;
    if let Some(event_id) = &context.event_id
        && !message.contains(event_id.as_str())
    {
        write!(out, " event_id={}", escape_controls(event_id))?;
    }
    if let Some(request_id) = &context.request_id {
        write!(out, " request_id={}", escape_controls(request_id))?;
    }
    writeln!(out)
}

/// `text` with its control characters (and the Unicode line and paragraph
/// separators) written as escapes, everything else as it is.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !text.contains(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Every panic leaves a log line saying where and why (a panic that ends
/// the process would otherwise only reach stderr, outside the log shipper's
/// format), before the default report.
pub fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        log::error!(
            "panic in thread {}: {info}",
            thread.name().unwrap_or("unnamed")
        );
        default(info);
    }));
}

/// The text a panic was raised with, for the log line and the health
/// board that report it.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_its_text_whatever_its_type() {
        assert_eq!(panic_message(&"static text"), "static text");
        assert_eq!(panic_message(&String::from("formatted 7")), "formatted 7");
        assert_eq!(panic_message(&7_u8), "unknown panic");
    }

    #[actix_rt::test]
    async fn a_task_logs_with_its_context_and_others_without() {
        let context = LogContext {
            request_id: Some("abc".into()),
            event_id: Some("e1".into()),
            subscriber: Some("slack-error"),
        };
        let seen = context.clone().scope(async { LogContext::current() }).await;
        assert_eq!(seen, context);
        assert_eq!(LogContext::current(), LogContext::default());
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn a_value_with_a_newline_cannot_forge_a_text_line() {
        let context = LogContext {
            request_id: Some("r\n1".into()),
            event_id: Some("e1".into()),
            subscriber: Some("slack-error"),
        };
        let mut out = Vec::new();
        let message = "delivered: Slack message to #x\n[2026-12-03T00:00:00Z ERROR alvares] forged\r\u{1b}[2J\u{2028}!";
        write_text_line(
            &mut out,
            &"2026-12-03T10:00:00.000Z",
            log::Level::Info,
            "alvares::engine::actor",
            message,
            &context,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[2026-12-03T10:00:00.000Z INFO  alvares::engine::actor] delivered: Slack message to #x\\n[2026-12-03T00:00:00Z ERROR alvares] forged\\r\\u{1b}[2J\\u{2028}! event_id=e1 request_id=r\\n1\n"
        );
        assert!(matches!(escape_controls("plain \\n ok"), Cow::Borrowed(_)));
    }
}

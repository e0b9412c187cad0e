//! How much one event may hold. The body limit (`MAX_BODY_BYTES`) bounds
//! the whole; these bound each known field, so that one request cannot
//! fan out without limit (every Slack channel is a message per subscriber,
//! every accessibility URL a Lighthouse run) and no field is larger than
//! what it is for. Checked at intake on the body as sent, before it is
//! read (trimmed, cleaned, its lists split and rid of empty items and
//! duplicates), so the bounds are exactly what the API document says: a
//! text's `maxLength`, an array's `maxItems`, and for a list sent as a
//! comma-separated string the same bounds on its comma-separated parts. A
//! violation is a 422 naming the field.
//!
//! Unknown fields are kept as sent and bounded only by the body limit.

use serde_json::Value;

use super::event::{Deployment, EventKind, FieldError, FieldShape, PipelineError, Recommendation};

/// `MAX_CHANNELS_PER_EVENT`'s default.
pub const DEFAULT_MAX_CHANNELS: usize = 20;
/// Items in any other list (`accessibilityUrls`, `detectifyProfileTokens`).
pub const MAX_LIST_ITEMS: usize = 20;
/// Names, identifiers, versions, paths, channels, tokens.
pub const MAX_NAME_CHARS: usize = 256;
/// URLs (what browsers and most servers accept).
pub const MAX_URL_CHARS: usize = 2_048;
/// The public descriptions.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// An error's or a recommendation's message.
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// An error's stack trace.
pub const MAX_STACK_TRACE_CHARS: usize = 100_000;

const SLACK_CHANNELS: &str = "slackChannels";

/// The longest text a known field (or each item of a list field) may hold,
/// in characters.
pub fn max_chars(field: &str) -> usize {
    match field {
        "monitorUrl"
        | "publicUserDocumentationUrl"
        | "applicationUrl"
        | "aboutUrl"
        | "accessibilityUrls" => MAX_URL_CHARS,
        "descriptionSwedish" | "descriptionEnglish" => MAX_DESCRIPTION_CHARS,
        "message" => MAX_MESSAGE_CHARS,
        "stackTrace" => MAX_STACK_TRACE_CHARS,
        _ => MAX_NAME_CHARS,
    }
}

/// The bounds in force (one is a setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBounds {
    /// Distinct Slack channels one event may name (`MAX_CHANNELS_PER_EVENT`).
    pub max_channels: usize,
}

impl Default for EventBounds {
    fn default() -> Self {
        EventBounds {
            max_channels: DEFAULT_MAX_CHANNELS,
        }
    }
}

impl EventBounds {
    /// The most items a list field may hold.
    pub fn max_items(&self, field: &str) -> usize {
        if field == SLACK_CHANNELS {
            self.max_channels
        } else {
            MAX_LIST_ITEMS
        }
    }

    /// The first known field of `body` past its bound, as sent, in the
    /// order the kind lists its fields. A body that is not an object, or
    /// a field of the wrong type, is left to the parser.
    pub fn check_sent(&self, kind: EventKind, body: &Value) -> Result<(), FieldError> {
        let Value::Object(fields) = body else {
            return Ok(());
        };
        for (field, shape) in known_fields(kind) {
            let Some(value) = fields.get(field) else {
                continue;
            };
            let most = max_chars(field);
            // Every item counts, as the document's `maxItems` counts it:
            // `null`s, empty ones and duplicates too (a string's parts are
            // its comma-separated pieces).
            let (count, items): (usize, Vec<&str>) = match (shape, value) {
                (FieldShape::Text, Value::String(text)) => {
                    if let Some(length) = too_long(text, most) {
                        return Err(FieldError::new(
                            field,
                            format!("must be at most {most} characters, not {length}"),
                        ));
                    }
                    continue;
                }
                (FieldShape::List, Value::String(text)) => {
                    let parts: Vec<&str> = text.split(',').collect();
                    (parts.len(), parts)
                }
                (FieldShape::List, Value::Array(items)) => (
                    items.len(),
                    items.iter().filter_map(Value::as_str).collect(),
                ),
                _ => continue,
            };
            self.within_items(field, count)?;
            if let Some(length) = items.iter().find_map(|item| too_long(item, most)) {
                return Err(FieldError::new(
                    field,
                    format!("each item must be at most {most} characters, not {length}"),
                ));
            }
        }
        Ok(())
    }

    fn within_items(&self, field: &str, count: usize) -> Result<(), FieldError> {
        let most_items = self.max_items(field);
        if count <= most_items {
            return Ok(());
        }
        let what = if field == SLACK_CHANNELS {
            "channels (MAX_CHANNELS_PER_EVENT)"
        } else {
            "items"
        };
        Err(FieldError::new(
            field,
            format!("at most {most_items} {what}, not {count}"),
        ))
    }
}

/// A kind's known fields and their shapes, in its order.
fn known_fields(kind: EventKind) -> Vec<(&'static str, FieldShape)> {
    match kind {
        EventKind::Deployment => Deployment::known_fields(),
        EventKind::Error => PipelineError::KNOWN_FIELDS.to_vec(),
        EventKind::Recommendation => Recommendation::KNOWN_FIELDS.to_vec(),
    }
}

/// The text's length in characters when it is over `most`.
fn too_long(text: &str, most: usize) -> Option<usize> {
    // A byte is at most a character: short texts need no counting.
    if text.len() <= most {
        return None;
    }
    let length = text.chars().count();
    (length > most).then_some(length)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::EventKind;

    fn check(kind: EventKind, body: Value) -> Result<(), FieldError> {
        EventBounds::default().check_sent(kind, &body)
    }

    fn deployment(extra: Value) -> Value {
        let mut body = json!({"applicationName": "app", "cluster": "active"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    }

    fn channels(count: usize) -> Vec<String> {
        (0..count).map(|n| format!("#c{n}")).collect()
    }

    #[test]
    fn the_fixtures_fit() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(format!("{fixtures}/{name}")).unwrap())
                .unwrap()
        };
        assert_eq!(
            check(EventKind::Deployment, read("deployment.json")),
            Ok(())
        );
        assert_eq!(check(EventKind::Error, read("error.json")), Ok(()));
        for mut advice in read("recommendations.json").as_array().unwrap().clone() {
            advice
                .as_object_mut()
                .unwrap()
                .remove("expected-enriched-values");
            assert_eq!(check(EventKind::Recommendation, advice), Ok(()));
        }
    }

    #[test]
    fn lists_are_counted_as_sent() {
        // Duplicates, quoted duplicates, empty items and nulls count: the
        // document's maxItems counts every item.
        let mut twenty = channels(17);
        twenty.extend(["#c1".into(), "\"#c2\"".into(), " ".into()]);
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"slackChannels": twenty}))
            ),
            Ok(())
        );
        let mut with_null = json!(twenty);
        with_null.as_array_mut().unwrap().push(Value::Null);
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"slackChannels": with_null}))
            ),
            Err(FieldError::new(
                "slackChannels",
                "at most 20 channels (MAX_CHANNELS_PER_EVENT), not 21"
            ))
        );
        // A string's comma-separated parts, empty ones too.
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"slackChannels": format!("{},", channels(20).join(","))}))
            ),
            Err(FieldError::new(
                "slackChannels",
                "at most 20 channels (MAX_CHANNELS_PER_EVENT), not 21"
            ))
        );
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"slackChannels": channels(20).join(",")}))
            ),
            Ok(())
        );
        for kind in [EventKind::Error, EventKind::Recommendation] {
            assert_eq!(
                check(
                    kind,
                    json!({"message": "m", "slackChannels": channels(3_000)})
                ),
                Err(FieldError::new(
                    "slackChannels",
                    "at most 20 channels (MAX_CHANNELS_PER_EVENT), not 3000"
                ))
            );
        }
        let wide = EventBounds {
            max_channels: 3_000,
        };
        let body = deployment(json!({"slackChannels": channels(3_000)}));
        assert_eq!(wide.check_sent(EventKind::Deployment, &body), Ok(()));
    }

    #[test]
    fn other_lists_hold_at_most_twenty_items_of_bounded_length() {
        let urls: Vec<String> = (0..21).map(|n| format!("https://x.test/{n}")).collect();
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"accessibilityUrls": urls}))
            ),
            Err(FieldError::new(
                "accessibilityUrls",
                "at most 20 items, not 21"
            ))
        );
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"detectifyProfileTokens": channels(21)}))
            ),
            Err(FieldError::new(
                "detectifyProfileTokens",
                "at most 20 items, not 21"
            ))
        );
        let long_url = format!("https://x.test/{}", "a".repeat(2_048));
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"accessibilityUrls": ["https://x.test/", long_url]}))
            ),
            Err(FieldError::new(
                "accessibilityUrls",
                "each item must be at most 2048 characters, not 2063"
            ))
        );
        assert_eq!(
            check(
                EventKind::Deployment,
                deployment(json!({"slackChannels": [format!("#{}", "c".repeat(256))]}))
            ),
            Err(FieldError::new(
                "slackChannels",
                "each item must be at most 256 characters, not 257"
            ))
        );
    }

    #[test]
    fn every_text_field_has_its_bound_counted_in_characters() {
        let cases = [
            ("applicationName", 256),
            ("cluster", 256),
            ("version", 256),
            ("imageName", 256),
            ("team", 256),
            ("friendlyName", 256),
            ("monitorUrl", 2_048),
            ("aboutUrl", 2_048),
            ("descriptionEnglish", 4_000),
            ("descriptionSwedish", 4_000),
        ];
        for (field, most) in cases {
            // Exactly at the bound, in characters of several bytes: fine.
            let at = deployment(json!({field: "å".repeat(most)}));
            assert_eq!(check(EventKind::Deployment, at), Ok(()), "{field}");
            let over = deployment(json!({field: "x".repeat(most + 1)}));
            assert_eq!(
                check(EventKind::Deployment, over),
                Err(FieldError::new(
                    field,
                    format!("must be at most {most} characters, not {}", most + 1)
                )),
                "{field}"
            );
        }
        assert_eq!(
            check(
                EventKind::Error,
                json!({"message": "m", "stackTrace": "t".repeat(100_001)})
            ),
            Err(FieldError::new(
                "stackTrace",
                "must be at most 100000 characters, not 100001"
            ))
        );
        for kind in [EventKind::Error, EventKind::Recommendation] {
            assert_eq!(
                check(kind, json!({"message": "m".repeat(10_001)})),
                Err(FieldError::new(
                    "message",
                    "must be at most 10000 characters, not 10001"
                ))
            );
        }
        // As sent: surrounding whitespace counts.
        let padded = deployment(json!({"version": format!("  {}  ", "1".repeat(256))}));
        assert_eq!(
            check(EventKind::Deployment, padded),
            Err(FieldError::new(
                "version",
                "must be at most 256 characters, not 260"
            ))
        );
        // Wrong types are the parser's to refuse.
        let wrong = deployment(json!({"version": ["x".repeat(300)], "slackChannels": {"a": 1}}));
        assert_eq!(check(EventKind::Deployment, wrong), Ok(()));
    }

    #[test]
    fn unknown_fields_are_bounded_only_by_the_body() {
        let body = deployment(json!({"somethingNew": "x".repeat(200_000)}));
        assert_eq!(check(EventKind::Deployment, body), Ok(()));
    }
}

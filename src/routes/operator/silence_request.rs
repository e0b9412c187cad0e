//! The body of `POST /admin/silences`: its schema in the API document
//! ([`NewSilence`]) and its reader ([`read`]), side by side, so that what
//! the document promises is what is checked:
//!
//! - `matchers`: 1 to 20 fields, each a pattern or 1 to 100 of them (100
//!   in all), each at most 256 characters and a valid glob
//!   ([`GLOB_PATTERN`]);
//! - `startsAt`, `endsAt`: strict RFC 3339 (`clock::parse_rfc3339`);
//! - `duration`: [`DURATION_PATTERN`] (`2h`, `90m`, `1d 12h`);
//! - exactly one of `endsAt` and `duration`;
//! - `comment`, `createdBy`: 1 to 1,000 characters, not blank, no NUL;
//! - no other field.
//!
//! A body that breaks one of these is a 400 (`invalid_query`) naming the
//! field, one past a bound of the service's a 422 (`limit_exceeded`), and
//! a period already over, or longer than 90 days, a 409 (`conflict`): it
//! depends on the time of the request.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema,
    SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::clock::parse_rfc3339;
use crate::domain::event::FieldError;
use crate::domain::matching::Conditions;
use crate::domain::silence::{MAX_PATTERN_CHARS, MAX_PATTERNS_PER_SILENCE};
use crate::error::ApiError;
use crate::routes::params::{invalid, not_blank_pattern};

/// Fields one silence matches on at most.
pub const MOST_MATCHERS: usize = 20;
/// Characters in a comment or a name.
pub const MOST_TEXT: usize = 1_000;
/// The longest a silence may last: a forgotten one must not hide a
/// destination for good.
pub const LONGEST_SILENCE_MS: i64 = 90 * 86_400_000;

/// A duration: numbers with a unit (`s`, `m`, `h`, `d`, `w`), e.g. `2h`
/// or `1d 12h` (a space between parts at most).
pub const DURATION_PATTERN: &str = "^[0-9]{1,9}[smhdw](?: ?[0-9]{1,9}[smhdw])*$";

/// A glob as `glob::Pattern` takes it: `*` and `?` anywhere, `**` only as
/// a whole `/`-separated part, and every `[` opening a class (`[abc]`,
/// `[!abc]`, `[a-z]`) that is closed.
pub const GLOB_PATTERN: &str = concat!(
    // A part is `**`, or characters, `?` and classes with single `*`s
    // between them (no `**` inside a part); parts are joined by `/`.
    "^(?:\\*\\*|\\*?(?:(?:[^*?\\[/]|\\?|\\[![\\s\\S][^\\]]*\\]|\\[[^!][^\\]]*\\])\\*?)*)",
    "(?:/(?:\\*\\*|\\*?(?:(?:[^*?\\[/]|\\?|\\[![\\s\\S][^\\]]*\\]|\\[[^!][^\\]]*\\])\\*?)*))*$"
);

const FIELDS: [&str; 6] = [
    "matchers",
    "startsAt",
    "endsAt",
    "duration",
    "comment",
    "createdBy",
];

/// A silence as asked for, checked: Unix milliseconds, patterns by field,
/// texts trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRequest {
    pub matchers: BTreeMap<String, Vec<String>>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub comment: String,
    pub created_by: String,
}

/// Reads and checks the body of a new silence at `now`.
pub fn read(body: &[u8], now: i64) -> Result<SilenceRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        invalid(
            "body",
            format!("expected JSON {{matchers, endsAt or duration, comment, createdBy}} ({error})"),
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(invalid(
            "body",
            "expected a JSON object {matchers, endsAt or duration, comment, createdBy}",
        ));
    };
    if let Some(unknown) = fields.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(invalid(
            &unknown.replace('\0', "\\u0000"),
            format!("is not a field of a silence ({})", FIELDS.join(", ")),
        ));
    }
    let matchers = matchers(fields.get("matchers"))?;
    let comment = text(&fields, "comment")?;
    let created_by = text(&fields, "createdBy")?;
    let starts_at = match fields.get("startsAt") {
        None => now,
        Some(at) => time("startsAt", at)?,
    };
    let ends_at = match (fields.get("endsAt"), fields.get("duration")) {
        (Some(at), None) => time("endsAt", at)?,
        (None, Some(duration)) => starts_at.saturating_add(duration_ms(duration)?),
        _ => return Err(invalid("endsAt", "give endsAt or duration (one of them)")),
    };
    if ends_at <= starts_at.max(now) {
        return Err(ApiError::Conflict(
            "endsAt: the silence would be over before it starts: it must end after its start \
             and after now"
                .into(),
        ));
    }
    if ends_at - starts_at > LONGEST_SILENCE_MS {
        return Err(ApiError::Conflict(
            "endsAt: a silence lasts at most 90 days".into(),
        ));
    }
    Ok(SilenceRequest {
        matchers,
        starts_at,
        ends_at,
        comment,
        created_by,
    })
}

/// `field → pattern | [patterns]`, checked against the bounds.
fn matchers(value: Option<&Value>) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let wrong = || {
        invalid(
            "matchers",
            format!(
                "give 1 to {MOST_MATCHERS} fields to match, each a pattern or a list of 1 to \
                 {MAX_PATTERNS_PER_SILENCE} of them"
            ),
        )
    };
    let Some(Value::Object(fields)) = value else {
        return Err(wrong());
    };
    if fields.is_empty() || fields.len() > MOST_MATCHERS {
        return Err(wrong());
    }
    let mut matchers = BTreeMap::new();
    for (field, patterns) in fields {
        let list: Vec<String> = match patterns {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) if !many.is_empty() => many
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
            _ => return Err(wrong()),
        };
        matchers.insert(field.clone(), list);
    }
    let patterns = matchers.values().map(Vec::len).sum::<usize>();
    if patterns > MAX_PATTERNS_PER_SILENCE {
        return Err(ApiError::LimitExceeded(FieldError::new(
            "matchers",
            format!("at most {MAX_PATTERNS_PER_SILENCE} patterns in all, not {patterns}"),
        )));
    }
    if let Some((field, pattern)) = matchers.iter().find_map(|(field, patterns)| {
        patterns
            .iter()
            .find(|p| p.chars().count() > MAX_PATTERN_CHARS)
            .map(|p| (field, p))
    }) {
        return Err(ApiError::LimitExceeded(FieldError::new(
            "matchers",
            format!(
                "{field}: a pattern is at most {MAX_PATTERN_CHARS} characters, not {}",
                pattern.chars().count()
            ),
        )));
    }
    Conditions::parse(&matchers).map_err(|error| invalid("matchers", error))?;
    Ok(matchers)
}

/// A required text: 1 to [`MOST_TEXT`] characters as sent, not blank, no
/// NUL; kept trimmed.
fn text(fields: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    let problem = format!("give 1 to {MOST_TEXT} characters, not all blank, without NUL");
    let Some(Value::String(text)) = fields.get(name) else {
        return Err(invalid(name, problem));
    };
    let trimmed = text.trim();
    if trimmed.is_empty() || text.contains('\0') || text.chars().count() > MOST_TEXT {
        return Err(invalid(name, problem));
    }
    Ok(trimmed.to_owned())
}

fn time(name: &str, value: &Value) -> Result<i64, ApiError> {
    value
        .as_str()
        .and_then(parse_rfc3339)
        .ok_or_else(|| invalid(name, "must be an RFC 3339 time, e.g. 2026-12-01T18:00:00Z"))
}

/// A duration ([`DURATION_PATTERN`]) in milliseconds (saturating: a
/// longer one than can be counted is still too long).
fn duration_ms(value: &Value) -> Result<i64, ApiError> {
    let wrong = || invalid("duration", "e.g. 2h, 90m or 1d 12h (units s, m, h, d, w)");
    let text = value.as_str().ok_or_else(wrong)?;
    let mut total: i64 = 0;
    let mut parts = 0;
    let mut rest = text;
    while !rest.is_empty() {
        if parts > 0 {
            rest = rest.strip_prefix(' ').unwrap_or(rest);
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(wrong());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| wrong())?;
        let unit_ms = match rest.as_bytes().get(digits) {
            Some(b's') => 1_000,
            Some(b'm') => 60_000,
            Some(b'h') => 3_600_000,
            Some(b'd') => 86_400_000,
            Some(b'w') => 604_800_000,
            _ => return Err(wrong()),
        };
        total = total.saturating_add(number.saturating_mul(unit_ms));
        rest = &rest[digits + 1..];
        parts += 1;
    }
    if parts == 0 {
        return Err(wrong());
    }
    Ok(total)
}

/// The body of `POST /admin/silences` in the API document.
pub struct NewSilence;

impl PartialSchema for NewSilence {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MOST_TEXT))
                .pattern(Some(not_blank_pattern("")))
                .description(Some(description))
        };
        let time = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some(description))
        };
        let glob = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_PATTERN_CHARS))
                .pattern(Some(GLOB_PATTERN))
        };
        let patterns = AnyOfBuilder::new()
            .item(glob())
            .item(
                ArrayBuilder::new()
                    .items(glob())
                    .min_items(Some(1))
                    .max_items(Some(MAX_PATTERNS_PER_SILENCE)),
            )
            .description(Some("A pattern, or a list of them (any may match)."));
        let matchers = ObjectBuilder::new()
            .schema_type(Type::Object)
            .min_properties(Some(1))
            .max_properties(Some(MOST_MATCHERS))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(patterns.into()))))
            .description(Some(format!(
                "Field → a pattern or a list of them (exact, or a glob: `kth-*`, `v?.*`, \
                 `[ab]*`): any enriched field, `kind`, or `subscriber`; all must match. 1 to \
                 {MOST_MATCHERS} fields and at most {MAX_PATTERNS_PER_SILENCE} patterns in all \
                 (more is a 422), each at most {MAX_PATTERN_CHARS} characters."
            )));
        // Exactly one of `endsAt` and `duration`. utoipa's object has no
        // `oneOf` beside its properties; its extensions are written into
        // the object as they are, so the keyword goes in there.
        let one_of = Extensions::from_iter([(
            "oneOf",
            json!([{"required": ["endsAt"]}, {"required": ["duration"]}]),
        )]);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A new silence: `endsAt` or `duration` (exactly one). A period already over, \
                 or longer than 90 days, is a 409.",
            ))
            .property("matchers", matchers)
            .required("matchers")
            .property(
                "startsAt",
                time("When it starts (RFC 3339); now when absent."),
            )
            .property(
                "endsAt",
                time("When it ends (RFC 3339); or give `duration`."),
            )
            .property(
                "duration",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(DURATION_PATTERN))
                    .description(Some(
                        "How long it lasts from its start: numbers with a unit (`s`, `m`, `h`, \
                         `d`, `w`), e.g. `2h` or `1d 12h`; or give `endsAt`.",
                    )),
            )
            .property("comment", text("Why."))
            .required("comment")
            .property("createdBy", text("Who."))
            .required("createdBy")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .extensions(Some(one_of))
            .into()
    }
}

impl ToSchema for NewSilence {}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_793_577_600_000;
    const HOUR: i64 = 3_600_000;

    fn read_json(body: Value) -> Result<SilenceRequest, ApiError> {
        read(body.to_string().as_bytes(), NOW)
    }

    fn refusal(body: Value) -> String {
        match read_json(body) {
            Err(error) => error.to_string(),
            Ok(request) => panic!("accepted: {request:?}"),
        }
    }

    #[test]
    fn a_silence_for_a_duration_or_until_a_time() {
        let request = read_json(json!({
            "matchers": {"cluster": "active", "applicationName": ["kth-*", "web"]},
            "duration": "1d 12h", "comment": " freeze ", "createdBy": "ops"
        }))
        .unwrap();
        assert_eq!(
            request,
            SilenceRequest {
                matchers: BTreeMap::from([
                    ("applicationName".into(), vec!["kth-*".into(), "web".into()]),
                    ("cluster".into(), vec!["active".into()]),
                ]),
                starts_at: NOW,
                ends_at: NOW + 36 * HOUR,
                comment: "freeze".into(),
                created_by: "ops".into(),
            }
        );
        let until = read_json(json!({
            "matchers": {"kind": "error"}, "startsAt": "2026-11-02T01:00:00Z",
            "endsAt": "2026-11-02T03:00:00+01:00", "comment": "c", "createdBy": "me"
        }))
        .unwrap();
        assert_eq!(
            (until.starts_at, until.ends_at),
            (NOW + HOUR, NOW + 2 * HOUR)
        );
    }

    #[test]
    fn durations() {
        let ms = |text: &str| duration_ms(&json!(text)).map_err(|e| e.to_string());
        assert_eq!(ms("2h"), Ok(2 * HOUR));
        assert_eq!(ms("90m"), Ok(90 * 60_000));
        assert_eq!(
            ms("1w2d3h4m5s"),
            Ok(((((7 + 2) * 24 + 3) * 60 + 4) * 60 + 5) * 1000)
        );
        // Nine digits a part, counted exactly (the sum saturates).
        assert_eq!(
            ms("999999999w 999999999w 999999999w"),
            Ok(3 * 999_999_999 * 604_800_000)
        );
        for wrong in [
            "",
            "2",
            "h",
            "2 h",
            "2h ",
            " 2h",
            "2h  3m",
            "1.5h",
            "2hours",
            "1234567890s",
            "-1h",
        ] {
            assert_eq!(
                ms(wrong),
                Err("duration: e.g. 2h, 90m or 1d 12h (units s, m, h, d, w)".into()),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn each_field_is_checked_and_named() {
        let body = |extra: Value| {
            let mut body = json!({"matchers": {"cluster": "active"}, "duration": "1h", "comment": "c", "createdBy": "me"});
            for (key, value) in extra.as_object().unwrap() {
                if value == "<absent>" {
                    body.as_object_mut().unwrap().remove(key);
                } else {
                    body[key] = value.clone();
                }
            }
            body
        };
        let matchers =
            "matchers: give 1 to 20 fields to match, each a pattern or a list of 1 to 100 of them";
        let text =
            |name: &str| format!("{name}: give 1 to 1000 characters, not all blank, without NUL");
        let cases = [
            (json!({"matchers": {}}), matchers.to_owned()),
            (json!({"matchers": {"cluster": []}}), matchers.to_owned()),
            (json!({"matchers": {"cluster": 5}}), matchers.to_owned()),
            (json!({"matchers": ["cluster"]}), matchers.to_owned()),
            (
                json!({"matchers": (0..21).map(|n| (format!("f{n}"), json!("x"))).collect::<Map<_, _>>()}),
                matchers.to_owned(),
            ),
            (
                json!({"matchers": {"cluster": "["}}),
                "matchers: cluster: pattern \"[\": Pattern syntax error near position 0: invalid range pattern".to_owned(),
            ),
            (json!({"comment": " \u{85}\u{3000} "}), text("comment")),
            (json!({"comment": "a\u{0}"}), text("comment")),
            (json!({"comment": "x".repeat(1001)}), text("comment")),
            (json!({"createdBy": null}), text("createdBy")),
            (json!({"createdBy": 7}), text("createdBy")),
            (
                json!({"duration": "<absent>"}),
                "endsAt: give endsAt or duration (one of them)".to_owned(),
            ),
            (
                json!({"duration": null}),
                "duration: e.g. 2h, 90m or 1d 12h (units s, m, h, d, w)".to_owned(),
            ),
            (
                json!({"endsAt": "2026-11-03T00:00:00Z"}),
                "endsAt: give endsAt or duration (one of them)".to_owned(),
            ),
            (
                json!({"duration": "<absent>", "endsAt": "2026-11-03 00:00:00Z"}),
                "endsAt: must be an RFC 3339 time, e.g. 2026-12-01T18:00:00Z".to_owned(),
            ),
            (
                json!({"startsAt": null}),
                "startsAt: must be an RFC 3339 time, e.g. 2026-12-01T18:00:00Z".to_owned(),
            ),
            (
                json!({"extra": 1}),
                "extra: is not a field of a silence (matchers, startsAt, endsAt, duration, comment, createdBy)".to_owned(),
            ),
        ];
        for (extra, expected) in cases {
            let sent = body(extra);
            assert_eq!(refusal(sent.clone()), expected, "{sent}");
        }
        assert_eq!(
            read(b"[1]", NOW).unwrap_err().to_string(),
            "body: expected a JSON object {matchers, endsAt or duration, comment, createdBy}"
        );
        // A thousand characters (not bytes) is the bound.
        assert_eq!(
            read_json(body(json!({"comment": "é".repeat(1000)})))
                .unwrap()
                .comment
                .chars()
                .count(),
            1000
        );
    }

    #[test]
    fn past_bounds_and_periods() {
        let with = |extra: Value| {
            let mut body =
                json!({"matchers": {"cluster": "active"}, "comment": "c", "createdBy": "me"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            read_json(body)
        };
        let status = |result: Result<SilenceRequest, ApiError>| {
            use actix_web::ResponseError;
            let error = result.unwrap_err();
            (error.status_code().as_u16(), error.to_string())
        };
        assert_eq!(
            status(with(json!({"duration": "91d"}))),
            (409, "endsAt: a silence lasts at most 90 days".into())
        );
        assert!(with(json!({"duration": "90d"})).is_ok());
        assert_eq!(
            status(with(json!({"endsAt": "2026-11-01T00:00:00Z"}))),
            (
                409,
                "endsAt: the silence would be over before it starts: it must end after its \
                 start and after now"
                    .into()
            )
        );
        assert_eq!(status(with(json!({"duration": "0s"}))).0, 409);
        assert_eq!(
            status(with(
                json!({"startsAt": "2026-11-05T00:00:00Z", "endsAt": "2026-11-04T00:00:00Z"})
            ))
            .0,
            409
        );
        let many: Vec<String> = (0..101).map(|n| n.to_string()).collect();
        assert_eq!(
            status(with(
                json!({"duration": "1h", "matchers": {"cluster": many}})
            )),
            (422, "matchers: at most 100 patterns in all, not 101".into())
        );
        assert_eq!(
            status(with(
                json!({"duration": "1h", "matchers": {"cluster": "x".repeat(257)}})
            )),
            (
                422,
                "matchers: cluster: a pattern is at most 256 characters, not 257".into()
            )
        );
    }
}

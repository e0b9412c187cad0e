//! Query parameters read as the API document describes them: an empty
//! value is an absent one (`since=` is no `since`), times are strict
//! (RFC 3339 as `clock::parse_rfc3339` reads it, a date, or Unix
//! milliseconds; nothing around them), and a value outside its enum or
//! pattern is a 400 naming the parameter. Each parameter's pattern in
//! the document is written beside its reader here, and a test checks the
//! two agree (`tests/api/contract.rs`).

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::clock::{parse_date, parse_rfc3339};
use crate::domain::event::FieldError;
use crate::error::ApiError;

const DAY_MS: i64 = 86_400_000;

/// A full date of RFC 3339 (a real calendar day, leap years included).
macro_rules! date_pattern {
    () => {
        "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
    };
}

/// The time part of an RFC 3339 date-time, from its `T`.
macro_rules! time_pattern {
    () => {
        "[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
    };
}

/// A strict RFC 3339 date-time, as [`parse_rfc3339`] reads it.
pub const RFC3339_PATTERN: &str = concat!("^", date_pattern!(), time_pattern!(), "$");

/// `since` of the deployments: empty, Unix milliseconds (up to 15
/// digits) or an RFC 3339 date-time.
pub const SINCE_PATTERN: &str =
    concat!("^(?:|[0-9]{1,15}|", date_pattern!(), time_pattern!(), ")$");

/// `since` and `until` of the insights: empty, Unix milliseconds, a date
/// or an RFC 3339 date-time.
pub const PERIOD_PATTERN: &str = concat!(
    "^(?:|[0-9]{1,15}|",
    date_pattern!(),
    "(?:",
    time_pattern!(),
    ")?)$"
);

/// A regex character class's inside for `ranges` (`\u0009-\u000d …`),
/// written as ECMA-262, Python and Rust regexes all read it.
pub fn class_of(ranges: &[(char, char)]) -> String {
    let escape = |c: char| format!("\\u{:04x}", c as u32);
    ranges
        .iter()
        .map(|(from, to)| {
            debug_assert!(
                (*to as u32) <= 0xffff,
                "a \\uXXXX escape holds a BMP character"
            );
            if from == to {
                escape(*from)
            } else {
                format!("{}-{}", escape(*from), escape(*to))
            }
        })
        .collect()
}

/// Text without a NUL character (what intake and the admin API refuse).
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// Text without a NUL character and not blank: at least one character
/// that is neither whitespace (`domain::text::WHITESPACE`) nor one of
/// `also_blank` (e.g. `"`, which intake also strips from identifiers).
pub fn not_blank_pattern(also_blank: &str) -> String {
    let blank = class_of(&crate::domain::text::WHITESPACE);
    format!("^[^\\u0000]*[^\\u0000{blank}{also_blank}][^\\u0000]*$")
}

/// The deployments' `since` in the document.
pub fn since_schema() -> Object {
    pattern_schema(
        SINCE_PATTERN,
        "Only deployments received at or after this time: RFC 3339 \
         (`2026-11-25T10:00:00Z`) or Unix milliseconds. Empty: no bound.",
    )
}

/// The insights' `since` in the document.
pub fn period_since_schema() -> Object {
    pattern_schema(
        PERIOD_PATTERN,
        "Start of the period, inclusive: RFC 3339 (`2026-11-01T00:00:00Z`), a date \
         (`2026-11-01`, its 00:00 UTC) or Unix milliseconds. Default (also when empty): 90 \
         days before `until`.",
    )
}

/// The insights' `until` in the document.
pub fn period_until_schema() -> Object {
    pattern_schema(
        PERIOD_PATTERN,
        "End of the period, exclusive: RFC 3339, a date (`2026-11-30`: the whole day is in \
         the period) or Unix milliseconds. Default (also when empty): now. A period that \
         ends before it starts holds no deployments.",
    )
}

fn pattern_schema(pattern: &str, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// An empty parameter is an absent one.
pub fn given(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.is_empty())
}

/// A filter: surrounding whitespace is not part of it, and a blank one
/// selects everything.
pub fn filter(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The forms a time parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForms {
    /// Unix milliseconds or an RFC 3339 date-time ([`SINCE_PATTERN`]).
    Instant,
    /// Those, or a date ([`PERIOD_PATTERN`]): its 00:00 UTC, or with
    /// `end_of_day` the 00:00 after it (an `until` takes in the whole day).
    InstantOrDate { end_of_day: bool },
}

/// A time parameter as Unix milliseconds.
pub fn time(name: &str, text: &str, forms: TimeForms) -> Result<i64, ApiError> {
    if !text.is_empty() && text.len() <= 15 && text.bytes().all(|b| b.is_ascii_digit()) {
        // At most 15 digits: within i64.
        return text
            .parse::<i64>()
            .map_err(|_| invalid(name, "must be at most 15 digits"));
    }
    if let Some(ms) = parse_rfc3339(text) {
        return Ok(ms);
    }
    match forms {
        TimeForms::InstantOrDate { end_of_day } => match parse_date(text) {
            Some(ms) if end_of_day => Ok(ms + DAY_MS),
            Some(ms) => Ok(ms),
            None => Err(invalid(
                name,
                "must be an RFC 3339 time (2026-11-25T10:00:00Z), a date (2026-11-25) \
                 or Unix milliseconds (up to 15 digits)",
            )),
        },
        TimeForms::Instant => Err(invalid(
            name,
            "must be an RFC 3339 time (2026-11-25T10:00:00Z) or Unix milliseconds (up to 15 digits)",
        )),
    }
}

/// The dead letters' `cursor`: a delivery id.
pub fn dead_letter_cursor(text: &str) -> Result<i64, ApiError> {
    let digits = text.len() <= 18 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if let (true, Ok(id)) = (digits, text.parse::<i64>()) {
        return Ok(id);
    }
    Err(invalid(
        "cursor",
        "must be a nextCursor from a previous page",
    ))
}

/// One of `names`, exactly; anything else (an empty value included) is a
/// 400 naming the parameter and the values it takes.
pub fn one_of<'a>(name: &str, text: &str, names: &[&'a str]) -> Result<&'a str, ApiError> {
    names
        .iter()
        .find(|candidate| **candidate == text)
        .copied()
        .ok_or_else(|| invalid(name, format!("must be {}", either(names))))
}

/// `day or week`, `a, b or c`.
fn either(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

pub fn invalid(name: &str, problem: impl Into<String>) -> ApiError {
    ApiError::InvalidQuery(FieldError::new(name, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result {
            Err(error) => error.to_string(),
            Ok(value) => panic!("accepted: {value:?}"),
        }
    }

    #[test]
    fn times_in_each_form() {
        let instant = TimeForms::Instant;
        let since = TimeForms::InstantOrDate { end_of_day: false };
        let until = TimeForms::InstantOrDate { end_of_day: true };
        assert_eq!(time("since", "1000", instant).unwrap(), 1000);
        assert_eq!(time("since", "0", instant).unwrap(), 0);
        assert_eq!(
            time("since", "999999999999999", instant).unwrap(),
            999_999_999_999_999
        );
        assert_eq!(
            time("since", "2026-11-02T01:00:00Z", instant).unwrap(),
            1_793_577_600_000 + 3_600_000
        );
        assert_eq!(
            time("since", "2026-11-02", since).unwrap(),
            1_793_577_600_000
        );
        assert_eq!(
            time("until", "2026-11-02", until).unwrap(),
            1_793_577_600_000 + DAY_MS
        );
        for wrong in [
            "-1",
            "+1",
            " 1",
            "1000000000000000",
            "2026-11-02 01:00:00Z",
            "2026-11-02T01:00:00",
            "2026-02-30",
            "yesterday",
        ] {
            assert!(time("since", wrong, since).is_err(), "{wrong}");
        }
        assert_eq!(
            problem(time("since", "2026-11-02", instant)),
            "since: must be an RFC 3339 time (2026-11-25T10:00:00Z) or Unix milliseconds \
             (up to 15 digits)"
        );
    }

    #[test]
    fn enums_are_exact() {
        assert_eq!(one_of("bucket", "week", &["day", "week"]).unwrap(), "week");
        for wrong in ["", "Week", " week", "month"] {
            assert_eq!(
                problem(one_of("bucket", wrong, &["day", "week"])),
                "bucket: must be day or week"
            );
        }
        assert_eq!(either(&["a", "b", "c"]), "a, b or c");
    }

    #[test]
    fn a_dead_letter_cursor_is_a_delivery_id() {
        assert_eq!(dead_letter_cursor("42").unwrap(), 42);
        for wrong in ["-1", "+1", "x", "", "1234567890123456789"] {
            assert!(dead_letter_cursor(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn blank_is_written_out() {
        assert_eq!(
            class_of(&[('\t', '\r'), (' ', ' ')]),
            "\\u0009-\\u000d\\u0020"
        );
        assert!(not_blank_pattern("\"").ends_with("\\u3000\"][^\\u0000]*$"));
    }

    #[test]
    fn empty_is_absent_and_filters_are_trimmed() {
        assert_eq!(given(Some(String::new())), None);
        assert_eq!(given(Some(" ".into())), Some(" ".into()));
        assert_eq!(filter(Some("  ".into())), None);
        assert_eq!(filter(Some(" a ".into())), Some("a".into()));
    }
}

//! Cursor pagination, as every listing answers it: `limit` (1 to
//! [`MOST_PER_PAGE`], default [`DEFAULT_LIMIT`]) and a page of items with
//! the `nextCursor` of the page after it.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::SerializeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::event::FieldError;
use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MOST_PER_PAGE: i64 = 500;

/// The `limit` query parameter.
pub fn parse_limit(text: Option<&str>) -> Result<i64, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_LIMIT);
    };
    // Digits only, as the document's integer: no sign, no spaces.
    let digits = !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<i64>() {
        Ok(limit) if digits && (1..=MOST_PER_PAGE).contains(&limit) => Ok(limit),
        _ => Err(ApiError::InvalidQuery(FieldError::new(
            "limit",
            format!("must be a whole number from 1 to {MOST_PER_PAGE}"),
        ))),
    }
}

/// The cursor of the page after `rows`: the last row's, when the page is
/// full (a short page is the last).
pub fn next_cursor<R>(rows: &[R], limit: i64, cursor: impl Fn(&R) -> String) -> Option<String> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(cursor))
        .flatten()
}

/// What a page lists: the items' field in the page (`events`), and the
/// page's name and description in the API document.
pub trait Listed {
    const FIELD: &'static str;
    const PAGE: &'static str;
    const DESCRIPTION: &'static str;
}

/// A page of items, newest first: `{"<FIELD>": [...], "nextCursor": ...}`.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T: Listed + Serialize> Serialize for Page<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(T::FIELD, &self.items)?;
        map.serialize_entry("nextCursor", &self.next_cursor)?;
        map.end()
    }
}

impl<T: Listed + ToSchema> PartialSchema for Page<T> {
    fn schema() -> RefOr<Schema> {
        let items = ArrayBuilder::new().items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            T::name(),
        )));
        let cursor = ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .description(Some(
                "Pass as `cursor` for the next page; null on the last page.",
            ));
        ObjectBuilder::new()
            .description(Some(T::DESCRIPTION))
            .property(T::FIELD, items)
            .required(T::FIELD)
            .property("nextCursor", cursor)
            .into()
    }
}

impl<T: Listed + ToSchema> ToSchema for Page<T> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(T::PAGE)
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_a_whole_number_up_to_the_most_per_page() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("500")).unwrap(), 500);
        assert_eq!(parse_limit(Some("007")).unwrap(), 7);
        for wrong in ["0", "501", "ten", "", " 5", "+5", "-1", "5.0"] {
            assert!(parse_limit(Some(wrong)).is_err(), "{wrong}");
        }
    }

    #[test]
    fn only_a_full_page_has_a_next_cursor() {
        let label = |n: &i32| n.to_string();
        assert_eq!(next_cursor(&[1, 2], 2, label), Some("2".to_owned()));
        assert_eq!(next_cursor(&[1], 2, label), None);
        assert_eq!(next_cursor::<i32>(&[], 2, label), None);
    }
}

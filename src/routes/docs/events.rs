//! The three event shapes, as sent to intake and as recorded, built from
//! the domain's lists of known fields (`Deployment::known_fields`,
//! `PipelineError::KNOWN_FIELDS`, `Recommendation::KNOWN_FIELDS`): a field
//! the parsers learn shows up here by itself. Unknown fields are kept and
//! stored as sent, so every shape allows other properties.

use std::borrow::Cow;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::bounds::{EventBounds, max_chars};
use crate::domain::event::{
    Deployment, EventKind, FREE_TEXT, FieldShape, PipelineError, Recommendation,
};
use crate::routes::params::{NO_NUL_PATTERN, not_blank_pattern};

/// What a field is for, where a reader needs more than its name.
fn describe(field: &str) -> Option<&'static str> {
    Some(match field {
        "applicationName" => "The application's name.",
        "cluster" => "The cluster it was deployed to.",
        "slackChannels" => {
            "Slack channels to tell: a comma-separated string or an array. For deployments only `#…` items are used. At most `MAX_CHANNELS_PER_EVENT` (default 20) items as sent (an array's items, or a string's comma-separated parts; duplicates are sent to once); more is a 422."
        }
        "importance" => "`high`, `medium` or `low`, in any case (anything else is read as `low`).",
        "testAccessibility" => {
            "`true`, `yes` or `1` (in any case) asks for a Lighthouse audit of `accessibilityUrls` (else `applicationUrl`)."
        }
        "detectifyProfileTokens" => {
            "Detectify scan profiles to start: a comma-separated string or an array."
        }
        "accessibilityUrls" => "URLs to audit: a comma-separated string or an array.",
        "applicationUrl" | "monitorUrl" | "aboutUrl" | "friendlyName" => {
            "Derived from the other fields when absent."
        }
        "message" => "What happened, kept as sent (only trimmed).",
        "stackTrace" => "The failed step's stack trace.",
        _ => return None,
    })
}

/// Text as a sender may send it: numbers and booleans are read as text,
/// `null` means absent.
fn sent_text() -> SchemaType {
    SchemaType::from_iter([Type::String, Type::Number, Type::Boolean, Type::Null])
}

/// With what intake checks (`domain::bounds`, `domain::event`): no NUL in
/// any text (BEHAVIOUR.md), a required field not blank once read
/// (identifiers lose whitespace and double quotes at their ends, free text
/// only whitespace), and the bounds as sent: a text's length, a list's
/// items (an array's, or a string's comma-separated parts) and each
/// item's length.
fn sent_field(
    bounds: &EventBounds,
    name: &str,
    shape: FieldShape,
    required: bool,
) -> RefOr<Schema> {
    let most = max_chars(name);
    let pattern = match (required, FREE_TEXT.contains(&name)) {
        (true, true) => not_blank_pattern(""),
        (true, false) => not_blank_pattern("\""),
        (false, _) => NO_NUL_PATTERN.to_owned(),
    };
    let text = ObjectBuilder::new()
        .schema_type(if required {
            SchemaType::from_iter([Type::String, Type::Number, Type::Boolean])
        } else {
            sent_text()
        })
        .max_length(Some(most))
        .pattern(Some(pattern))
        .description(describe(name));
    let most_items = bounds.max_items(name);
    // 1 to `most_items` parts, each of at most `most` characters.
    let parts = format!(
        "^[^,\\u0000]{{0,{most}}}(?:,[^,\\u0000]{{0,{most}}}){{0,{}}}$",
        most_items.saturating_sub(1)
    );
    match shape {
        FieldShape::Text => text.into(),
        FieldShape::List => AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(sent_text())
                    .pattern(Some(parts)),
            )
            .item(
                ArrayBuilder::new()
                    .items(
                        ObjectBuilder::new()
                            .schema_type(sent_text())
                            .max_length(Some(most))
                            .pattern(Some(NO_NUL_PATTERN)),
                    )
                    .max_items(Some(most_items)),
            )
            .description(describe(name))
            .into(),
    }
}

/// A kind's body as sent, with the bounds in force (`MAX_CHANNELS_PER_EVENT`
/// is a setting): what the served document holds.
pub fn sent_schema(kind: EventKind, bounds: &EventBounds) -> RefOr<Schema> {
    let field = |name: &str, shape, required| sent_field(bounds, name, shape, required);
    match kind {
        EventKind::Deployment => shape(
            &format!("A deployment report. {SENT}"),
            &Deployment::known_fields(),
            &Deployment::REQUIRED,
            true,
            field,
        ),
        EventKind::Error => shape(
            &format!("A failed pipeline step. {SENT}"),
            &PipelineError::KNOWN_FIELDS,
            &PipelineError::REQUIRED,
            true,
            field,
        ),
        EventKind::Recommendation => shape(
            &format!("Advice for an application's team. {SENT}"),
            &Recommendation::KNOWN_FIELDS,
            &Recommendation::REQUIRED,
            true,
            field,
        ),
    }
}

/// Any JSON without a NUL character in a text or a key, at any depth:
/// what an unknown field of an event may hold.
pub struct NulFreeValue;

impl PartialSchema for NulFreeValue {
    fn schema() -> RefOr<Schema> {
        let itself = || serde_json::json!({"$ref": "#/components/schemas/NulFreeValue"});
        // One schema for every JSON type; `pattern` applies to texts,
        // `items` to arrays, `additionalProperties` and `propertyNames` to
        // objects. utoipa's object has no `items` or `propertyNames`: its
        // extensions are written into the object as they are.
        let keywords = Extensions::from_iter([
            ("items", itself()),
            (
                "propertyNames",
                serde_json::json!({"pattern": NO_NUL_PATTERN}),
            ),
        ]);
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::String,
                Type::Number,
                Type::Boolean,
                Type::Null,
                Type::Array,
                Type::Object,
            ]))
            .pattern(Some(NO_NUL_PATTERN))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::Ref(
                Ref::from_schema_name("NulFreeValue"),
            ))))
            .extensions(Some(keywords))
            .description(Some(
                "Any JSON value with no NUL character in a text or a key, at any depth.",
            ))
            .into()
    }
}

impl ToSchema for NulFreeValue {}

fn recorded_field(name: &str, shape: FieldShape) -> RefOr<Schema> {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(describe(name));
    match shape {
        FieldShape::Text => text.into(),
        FieldShape::List => ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .description(describe(name))
            .into(),
    }
}

/// An event's shape; `sent` for what a sender sends (unknown fields are
/// any JSON without NUL), else as recorded.
fn shape(
    description: &str,
    fields: &[(&'static str, FieldShape)],
    required: &[&str],
    sent: bool,
    field: impl Fn(&str, FieldShape, bool) -> RefOr<Schema>,
) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::FreeForm(true)));
    if sent {
        let names = Extensions::from_iter([(
            "propertyNames",
            serde_json::json!({"pattern": NO_NUL_PATTERN}),
        )]);
        object = object
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::Ref(
                Ref::from_schema_name(NulFreeValue::name()),
            ))))
            .extensions(Some(names));
    }
    for (name, kind) in fields {
        let is_required = required.contains(name);
        object = object.property(*name, field(name, *kind, is_required));
        if is_required {
            object = object.required(*name);
        }
    }
    object.into()
}

const SENT: &str = "Known fields are listed; any other field is kept and stored as sent. \
    `null` means absent, surrounding whitespace is trimmed (after the bounds, which count what \
    is sent), and no text anywhere in the body, nor any key, may hold a NUL character.";

/// The body of `PUT|POST /api/v1/deployment`.
pub struct DeploymentEvent;

impl PartialSchema for DeploymentEvent {
    fn schema() -> RefOr<Schema> {
        sent_schema(EventKind::Deployment, &EventBounds::default())
    }
}

impl ToSchema for DeploymentEvent {}

/// The body of `PUT|POST /api/v1/error`.
pub struct PipelineErrorEvent;

impl PartialSchema for PipelineErrorEvent {
    fn schema() -> RefOr<Schema> {
        sent_schema(EventKind::Error, &EventBounds::default())
    }
}

impl ToSchema for PipelineErrorEvent {}

/// The body of `PUT|POST /api/v1/recommendation`.
pub struct RecommendationEvent;

impl PartialSchema for RecommendationEvent {
    fn schema() -> RefOr<Schema> {
        sent_schema(EventKind::Recommendation, &EventBounds::default())
    }
}

impl ToSchema for RecommendationEvent {}

/// A deployment as recorded and delivered: enriched, every list an array.
pub struct EnrichedDeployment;

impl PartialSchema for EnrichedDeployment {
    fn schema() -> RefOr<Schema> {
        shape(
            "A deployment as its subscribers received it: enriched (URLs, friendly name, \
             team, importance), with every list as an array, and the fields Alvares does not \
             know as they were sent.",
            &Deployment::known_fields(),
            &Deployment::REQUIRED,
            false,
            |name, kind, _| recorded_field(name, kind),
        )
    }
}

impl ToSchema for EnrichedDeployment {}

/// A pipeline error as recorded.
pub struct RecordedPipelineError;

impl PartialSchema for RecordedPipelineError {
    fn schema() -> RefOr<Schema> {
        shape(
            "A failed pipeline step as its subscribers received it.",
            &PipelineError::KNOWN_FIELDS,
            &PipelineError::REQUIRED,
            false,
            |name, kind, _| recorded_field(name, kind),
        )
    }
}

impl ToSchema for RecordedPipelineError {}

/// A recommendation as recorded.
pub struct RecordedRecommendation;

impl PartialSchema for RecordedRecommendation {
    fn schema() -> RefOr<Schema> {
        shape(
            "A recommendation as its subscribers received it.",
            &Recommendation::KNOWN_FIELDS,
            &Recommendation::REQUIRED,
            false,
            |name, kind, _| recorded_field(name, kind),
        )
    }
}

impl ToSchema for RecordedRecommendation {}

/// Any recorded event: which one is told by the `kind` beside it.
pub struct RecordedEvent;

impl PartialSchema for RecordedEvent {
    fn schema() -> RefOr<Schema> {
        let reference = |name: Cow<'static, str>| Ref::from_schema_name(name);
        AnyOfBuilder::new()
            .item(reference(EnrichedDeployment::name()))
            .item(reference(RecordedPipelineError::name()))
            .item(reference(RecordedRecommendation::name()))
            .description(Some(
                "The event as its subscribers received it; `kind` tells which shape.",
            ))
            .into()
    }
}

impl ToSchema for RecordedEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend([
            (
                EnrichedDeployment::name().into(),
                EnrichedDeployment::schema(),
            ),
            (
                RecordedPipelineError::name().into(),
                RecordedPipelineError::schema(),
            ),
            (
                RecordedRecommendation::name().into(),
                RecordedRecommendation::schema(),
            ),
        ]);
    }
}

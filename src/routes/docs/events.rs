//! The three event shapes, as sent to intake and as recorded, built from
//! the domain's lists of known fields (`Deployment::known_fields`,
//! `PipelineError::KNOWN_FIELDS`, `Recommendation::KNOWN_FIELDS`): a field
//! the parsers learn shows up here by itself. Unknown fields are kept and
//! stored as sent, so every shape allows other properties.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::bounds::{MAX_LIST_ITEMS, max_chars};
use crate::domain::event::{Deployment, FieldShape, PipelineError, Recommendation};

/// What a field is for, where a reader needs more than its name.
fn describe(field: &str) -> Option<&'static str> {
    Some(match field {
        "applicationName" => "The application's name.",
        "cluster" => "The cluster it was deployed to.",
        "slackChannels" => {
            "Slack channels to tell: a comma-separated string or an array. For deployments only `#…` items are used. At most `MAX_CHANNELS_PER_EVENT` (default 20) distinct channels; more is a 422."
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

/// With the bounds intake checks (`domain::bounds`): a text's length, and
/// an array's items (`slackChannels`' is a setting, so only described).
fn sent_field(name: &str, shape: FieldShape, required: bool) -> RefOr<Schema> {
    let most = Some(max_chars(name));
    let text = ObjectBuilder::new()
        .schema_type(if required {
            SchemaType::from_iter([Type::String, Type::Number, Type::Boolean])
        } else {
            sent_text()
        })
        .max_length(most)
        .description(describe(name));
    let most_items = (name != "slackChannels").then_some(MAX_LIST_ITEMS);
    match shape {
        FieldShape::Text => text.into(),
        FieldShape::List => AnyOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(sent_text()))
            .item(
                ArrayBuilder::new()
                    .items(
                        ObjectBuilder::new()
                            .schema_type(sent_text())
                            .max_length(most),
                    )
                    .max_items(most_items),
            )
            .description(describe(name))
            .into(),
    }
}

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

fn shape(
    description: &str,
    fields: &[(&'static str, FieldShape)],
    required: &[&str],
    field: impl Fn(&str, FieldShape, bool) -> RefOr<Schema>,
) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::FreeForm(true)));
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
    `null` means absent, surrounding whitespace is trimmed, and no text anywhere in the body \
    may hold a NUL character.";

/// The body of `PUT|POST /api/v1/deployment`.
pub struct DeploymentEvent;

impl PartialSchema for DeploymentEvent {
    fn schema() -> RefOr<Schema> {
        shape(
            &format!("A deployment report. {SENT}"),
            &Deployment::known_fields(),
            &Deployment::REQUIRED,
            sent_field,
        )
    }
}

impl ToSchema for DeploymentEvent {}

/// The body of `PUT|POST /api/v1/error`.
pub struct PipelineErrorEvent;

impl PartialSchema for PipelineErrorEvent {
    fn schema() -> RefOr<Schema> {
        shape(
            &format!("A failed pipeline step. {SENT}"),
            &PipelineError::KNOWN_FIELDS,
            &PipelineError::REQUIRED,
            sent_field,
        )
    }
}

impl ToSchema for PipelineErrorEvent {}

/// The body of `PUT|POST /api/v1/recommendation`.
pub struct RecommendationEvent;

impl PartialSchema for RecommendationEvent {
    fn schema() -> RefOr<Schema> {
        shape(
            &format!("Advice for an application's team. {SENT}"),
            &Recommendation::KNOWN_FIELDS,
            &Recommendation::REQUIRED,
            sent_field,
        )
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

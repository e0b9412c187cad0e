//! The API described: the OpenAPI 3.1 document at `/api/openapi.json` and a
//! page at `/api/docs` that renders it.
//!
//! The document is written from the route table ([`super::endpoints`]):
//! each handler's `#[utoipa::path]` gives its methods, path, parameters and
//! answers, and the answer types' `ToSchema` derives give the schemas, so
//! what is documented is what is mounted and what is sent. The page is one
//! HTML file with its own small script and stylesheet, compiled into the
//! binary; it loads nothing from anywhere but this service.

pub mod answers;
pub mod events;

use std::sync::{Arc, Mutex, OnceLock};

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};
use base64::Engine;
use sha2::{Digest, Sha256};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::state::AppState;
use super::{admin, health, http_method, insights, intake, operator, store};
use crate::domain::bounds::EventBounds;
use crate::domain::event::EventKind;
use crate::engine::health::CircuitReport;
use crate::engine::rate_limit::LimiterReport;
use crate::engine::{ActorState, Role};
use crate::error::{ErrorBody, ErrorKind};
use crate::store::models::deliveries::DeliveryState;

/// What the document says about the service as a whole.
const DESCRIPTION: &str = "\
Alvares takes the events a container deployment pipeline reports (a deployment, a failed \
step, a recommendation), records each before it answers, enriches deployments and hands every \
event to its subscribers (Slack messages, the deployment history, monitors, scans), each \
with its own retries.

Every error is answered with one JSON body: `{\"error\": kind, \"message\": text}`, plus \
`\"field\"` naming the field at fault where there is one, the framework's own included (a query \
parameter given twice is a 400 `invalid_query` naming it). A known path asked with a method it \
does not take answers 405 (`method_not_allowed`) with an `Allow` header; an unknown path \
answers 404 (`not_found`).

An empty query parameter is an absent one (`since=` is no `since`), but for the enums (`bucket`, \
`kind`), where only the listed values are taken. Times are strict RFC 3339 \
(`2026-11-25T10:00:00Z`, with its `T` and offset) where no other form is listed.

The admin routes (`/admin/…` but the console's page, stylesheet and script) take \
`Authorization: Bearer $ADMIN_TOKEN`; without `ADMIN_TOKEN` they answer 403. Intake takes \
`Authorization: Bearer $INGEST_TOKEN` when `INGEST_TOKEN` is set.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Alvares", description = DESCRIPTION, license(name = "MIT")),
    components(
        schemas(
            ErrorBody,
            ErrorKind,
            EventKind,
            intake::AcceptedEvent,
            events::DeploymentEvent,
            events::PipelineErrorEvent,
            events::RecommendationEvent,
            events::NulFreeValue,
            events::EnrichedDeployment,
            events::RecordedPipelineError,
            events::RecordedRecommendation,
            events::RecordedEvent,
            store::DeploymentPage,
            store::StoredDeployment,
            store::ClusterDeployments,
            store::EventView,
            store::DeliveryView,
            crate::domain::Destination,
            DeliveryState,
            insights::Insights,
            insights::BucketName,
            insights::BucketCount,
            insights::ChangeFailureRate,
            insights::TeamFailureRate,
            insights::TimeToRestore,
            insights::LastDeployment,
            health::Alive,
            health::AliveStatus,
            health::Ready,
            health::ReadyStatus,
            health::Unready,
            health::UnreadyStatus,
            ActorState,
            admin::actors::ActorsOverview,
            admin::actors::ReplicaEntry,
            crate::engine::ActorReport,
            crate::engine::health::LastError,
            Role,
            CircuitReport,
            LimiterReport,
            admin::switches::Switch,
            admin::dead_letters::DeadLetterPage,
            admin::dead_letters::DeadLetter,
            admin::dead_letters::Replayed,
            admin::events::EventPage,
            crate::config::file::ConfigSummary,
            crate::config::file::RouteSummary,
            crate::config::file::MailSummary,
            crate::config::file::OncePerSummary,
            crate::config::file::TemplatesSummary,
            crate::config::file::WebhookSummary,
            crate::pipeline::messages::ReloadReport,
            operator::SilenceView,
            operator::SilenceState,
            operator::SilenceList,
            operator::NewSilence,
        ),
        responses(
            answers::BadRequest,
            answers::InvalidQuery,
            answers::Unauthorized,
            answers::AdminDisabled,
            answers::NotFound,
            answers::MethodNotAllowed,
            answers::RequestTimeout,
            answers::PayloadTooLarge,
            answers::AdminPayloadTooLarge,
            answers::InvalidEvent,
            answers::LimitExceeded,
            answers::InvalidConfig,
            answers::Conflict,
            answers::Unavailable,
            answers::Internal,
        ),
    ),
    modifiers(&BearerTokens),
    tags(
        (name = "intake", description = "Events from the pipeline"),
        (name = "store", description = "The deployment history and what became of each event"),
        (name = "insights", description = "Delivery-performance figures from the history"),
        (name = "health", description = "Liveness, readiness and metrics (no authentication)"),
        (name = "admin", description = "The admin API (`ADMIN_TOKEN`)"),
        (name = "operator", description = "The operator's configuration file, its reload, and silences (`ADMIN_TOKEN`)"),
        (name = "console", description = "The admin console, a static page over the admin API"),
        (name = "docs", description = "This description of the API"),
    )
)]
struct ApiDoc;

/// The bearer tokens: names of the variables only, never their values.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "adminToken",
            bearer("`ADMIN_TOKEN`: every admin route requires it; without it they answer 403."),
        );
        components.add_security_scheme(
            "readToken",
            bearer("`READ_TOKEN`: required by the read API (`GET /api/v1/…`) when set (`ADMIN_TOKEN` is taken too); without it the read API answers without credentials."),
        );
        components.add_security_scheme(
            "ingestToken",
            bearer("`INGEST_TOKEN`: required by intake when set; without it intake takes events without credentials."),
        );
    }
}

/// The OpenAPI document of every mounted route.
pub fn document() -> Document {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for endpoint in super::endpoints() {
        // The area a handler's module covers: `alvares::routes::store::event`
        // is `store`, `alvares::routes::admin::actors::actors` is `admin`.
        let area = endpoint
            .handler
            .split_once("routes::")
            .and_then(|(_, rest)| rest.split("::").next())
            .unwrap_or("routes");
        for method in &endpoint.methods {
            let mut operation = endpoint.operation.clone();
            operation.tags.get_or_insert_with(|| vec![area.to_owned()]);
            // One handler serving several methods is one operation per
            // method, and operation ids are unique.
            if endpoint.methods.len() > 1 {
                let method = http_method(method).as_str().to_lowercase();
                operation.operation_id = operation.operation_id.map(|id| format!("{id}_{method}"));
            }
            document
                .paths
                .add_path_operation(&endpoint.path, vec![method.clone()], operation);
        }
    }
    document
}

/// The document with the bounds in force: the events' schemas say the
/// `MAX_CHANNELS_PER_EVENT` the service checks (the rest is the code's).
pub fn document_for(bounds: &EventBounds) -> Document {
    let mut document = document();
    let components = document.components.get_or_insert_with(Default::default);
    for (name, kind) in [
        (events::DeploymentEvent::name(), EventKind::Deployment),
        (events::PipelineErrorEvent::name(), EventKind::Error),
        (
            events::RecommendationEvent::name(),
            EventKind::Recommendation,
        ),
    ] {
        components
            .schemas
            .insert(name.into_owned(), events::sent_schema(kind, bounds));
    }
    document
}

/// The document as served: written once for each bounds (a process has
/// one; tests start services with others).
fn document_json(bounds: &EventBounds) -> Arc<str> {
    static WRITTEN: Mutex<Vec<(EventBounds, Arc<str>)>> = Mutex::new(Vec::new());
    let mut written = WRITTEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, json)) = written.iter().find(|(of, _)| of == bounds) {
        return json.clone();
    }
    let json: Arc<str> = document_for(bounds)
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
        .into();
    written.push((*bounds, json.clone()));
    json
}

/// The OpenAPI document
///
/// This API described in OpenAPI 3.1 (JSON), written from the routes the
/// service mounts.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    responses((status = 200, description = "The document", body = serde_json::Value, content_type = "application/json"))
)]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(document_json(&state.intake.bounds).to_string())
}

const TEMPLATE: &str = include_str!("docs/index.html");
const STYLESHEET: &str = include_str!("docs/docs.css");
const SCRIPT: &str = include_str!("docs/docs.js");

/// The page with its stylesheet and script inline, and a policy that lets
/// only those two run (by their hashes) and lets the script fetch only
/// from this origin.
struct Page {
    html: String,
    content_security_policy: String,
}

fn built_page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| {
        let hash = |text: &str| {
            let digest = Sha256::digest(text.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        };
        Page {
            html: TEMPLATE
                .replace("/*STYLESHEET*/", STYLESHEET)
                .replace("/*SCRIPT*/", SCRIPT),
            content_security_policy: format!(
                "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
                 img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
                hash(SCRIPT),
                hash(STYLESHEET)
            ),
        }
    })
}

/// The API documentation page
///
/// Every route with its parameters, request body and answers, read from
/// `/api/openapi.json` by the page's own script.
#[utoipa::path(
    get,
    path = "/api/docs",
    responses((status = 200, description = "The page", body = String, content_type = "text/html; charset=utf-8"))
)]
pub async fn documentation() -> HttpResponse {
    let page = built_page();
    HttpResponse::Ok()
        .insert_header(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            page.content_security_policy.as_str(),
        ))
        .body(page.html.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn references(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(reference)) = map.get("$ref") {
                    found.push(reference.clone());
                }
                map.values().for_each(|child| references(child, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| references(i, found)),
            _ => {}
        }
    }

    /// Every schema and response the document refers to is in it (the
    /// component lists of `ApiDoc` are complete).
    #[test]
    fn every_reference_resolves() {
        let document: serde_json::Value =
            serde_json::from_str(&document_json(&EventBounds::default())).unwrap();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 50, "{found:?}");
        for reference in found {
            let pointer = reference.strip_prefix('#').unwrap_or(&reference);
            assert!(
                document.pointer(pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }

    /// The page's markers are where the stylesheet and script go.
    #[test]
    fn the_page_has_its_stylesheet_and_script_inline() {
        let page = built_page();
        assert!(page.html.contains(STYLESHEET) && page.html.contains(SCRIPT));
        assert!(!page.html.contains("/*SCRIPT*/") && !page.html.contains("/*STYLESHEET*/"));
    }
}

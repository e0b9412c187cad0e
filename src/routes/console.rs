//! The admin console at `/admin/`: one HTML page, its stylesheet and its
//! script (ES modules: `console.js` imports `console.<module>.js`, one per
//! job), compiled into the binary (no build step, no external assets).
//! The page is public; everything it shows comes from the admin API, called
//! with the token the operator signs in with (kept in `sessionStorage`).

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, mime, web};

use crate::error::ApiError;

const PAGE: &str = include_str!("console/index.html");
const STYLESHEET: &str = include_str!("console/console.css");
const SCRIPT: &str = include_str!("console/console.js");

/// The modules `console.js` imports, served as `/admin/console.<name>.js`.
pub const MODULES: [(&str, &str); 7] = [
    ("actors", include_str!("console/console.actors.js")),
    ("api", include_str!("console/console.api.js")),
    (
        "dead-letters",
        include_str!("console/console.dead-letters.js"),
    ),
    ("dom", include_str!("console/console.dom.js")),
    ("events", include_str!("console/console.events.js")),
    ("insights", include_str!("console/console.insights.js")),
    ("operator", include_str!("console/console.operator.js")),
];

/// Only this origin's own files and API: API data is never markup, and no
/// inline script or style runs even if some were injected (the modules are
/// this origin's files: `'self'`).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The admin console's address
///
/// The console lives at `/admin/` so its relative links work.
#[utoipa::path(
    get,
    path = "/admin",
    responses((status = 308, description = "To the console",
        headers(("Location" = String, description = "`/admin/`"))))
)]
pub async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/admin/"))
        .finish()
}

/// The admin console
///
/// A static page over the admin API (the page itself needs no token; what
/// it shows comes from the admin API with the token the operator enters).
#[utoipa::path(
    get,
    path = "/admin/",
    responses((status = 200, description = "The page", body = String, content_type = "text/html; charset=utf-8"))
)]
pub async fn page() -> HttpResponse {
    asset(ContentType::html(), PAGE)
}

/// The admin console's stylesheet
#[utoipa::path(
    get,
    path = "/admin/console.css",
    responses((status = 200, description = "The stylesheet", body = String, content_type = "text/css; charset=utf-8"))
)]
pub async fn stylesheet() -> HttpResponse {
    asset(ContentType(mime::TEXT_CSS_UTF_8), STYLESHEET)
}

/// The admin console's script
#[utoipa::path(
    get,
    path = "/admin/console.js",
    responses((status = 200, description = "The script", body = String, content_type = "application/javascript; charset=utf-8"))
)]
pub async fn script() -> HttpResponse {
    asset(ContentType(mime::APPLICATION_JAVASCRIPT_UTF_8), SCRIPT)
}

/// One of the admin console script's modules
///
/// `actors`, `api`, `dead-letters`, `dom`, `events`, `insights` or
/// `operator`.
#[utoipa::path(
    get,
    path = "/admin/console.{id}.js",
    params(("id" = String, Path, description = "The module's name, e.g. `actors`")),
    responses(
        (status = 200, description = "The module", body = String, content_type = "application/javascript; charset=utf-8"),
        (status = 404, response = super::docs::answers::NotFound),
    )
)]
pub async fn module(id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (_, body) = MODULES
        .iter()
        .find(|(name, _)| *name == id.as_str())
        .ok_or(ApiError::NotFound)?;
    Ok(asset(ContentType(mime::APPLICATION_JAVASCRIPT_UTF_8), body))
}

/// `no-cache`: the browser revalidates, so a new binary's console is seen
/// at once.
fn asset(content_type: ContentType, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .body(body)
}

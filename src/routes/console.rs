//! The admin console at `/admin/`: one HTML page, its stylesheet and its
//! script, compiled into the binary (no build step, no external assets).
//! The page is public; everything it shows comes from the admin API, called
//! with the token the operator signs in with (kept in `sessionStorage`).

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, mime};

const PAGE: &str = include_str!("console/index.html");
const STYLESHEET: &str = include_str!("console/console.css");
const SCRIPT: &str = include_str!("console/console.js");

/// Only this origin's own files and API: API data is never markup, and no
/// inline script or style runs even if some were injected.
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

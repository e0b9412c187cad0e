//! The HTTP routes, one file per area, and the one list that mounts them.

pub mod health;
pub mod intake;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// Every route the service answers.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/api/v1/{kind}")
                .route(web::put().to(intake::accept))
                .route(web::post().to(intake::accept))
                .default_service(web::to(method_not_allowed)),
        )
        .route("/healthz", web::get().to(health::healthz));
}

/// JSON for paths no route knows.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "PUT, POST"))
        .json(serde_json::json!({
            "error": "method_not_allowed",
            "message": "events are sent with PUT or POST"
        }))
}

//! The HTTP routes, one file per area, and the one list that mounts them.

pub mod admin;
pub mod console;
pub mod health;
pub mod intake;
pub mod store;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// Every route the service answers.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/api/v1/deployment")
                .route(web::put().to(intake::accept_deployment))
                .route(web::post().to(intake::accept_deployment))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/v1/error")
                .route(web::put().to(intake::accept_error))
                .route(web::post().to(intake::accept_error))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/v1/recommendation")
                .route(web::put().to(intake::accept_recommendation))
                .route(web::post().to(intake::accept_recommendation))
                .default_service(web::to(method_not_allowed)),
        )
        .route("/api/v1/deployments", web::get().to(store::deployments))
        .route("/api/v1/deployments/{id}", web::get().to(store::deployment))
        .route(
            "/api/v1/clusters/{cluster}/latest",
            web::get().to(store::latest_in_cluster),
        )
        .route("/api/v1/events/{id}", web::get().to(store::event))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/admin/actors", web::get().to(admin::actors))
        .route("/admin/actors/{id}", web::get().to(admin::actor))
        .route(
            "/admin/subscribers/{id}",
            web::put().to(admin::switch_subscriber),
        )
        .route("/admin/dead-letters", web::get().to(admin::dead_letters))
        .route(
            "/admin/dead-letters/replay",
            web::post().to(admin::replay_subscriber),
        )
        .route(
            "/admin/dead-letters/{id}/replay",
            web::post().to(admin::replay_one),
        )
        .route("/admin/events", web::get().to(admin::recent_events))
        .route("/admin", web::get().to(console::redirect))
        .route("/admin/", web::get().to(console::page))
        .route("/admin/console.css", web::get().to(console::stylesheet))
        .route("/admin/console.js", web::get().to(console::script));
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

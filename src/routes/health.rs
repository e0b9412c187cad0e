//! `GET /healthz`: alive, and what every actor is doing.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::pipeline::health::HealthBoard;

pub async fn healthz(board: web::Data<HealthBoard>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "actors": board.snapshot(),
    }))
}

//! actix's extractors answer their errors with the one JSON error body
//! too: a query string that does not fit its parameters (a parameter given
//! twice: `/admin/events?limit=1&limit=2`) is a 400 `invalid_query` naming
//! the parameter, not actix's `text/plain` "Query deserialize error". The
//! routes read their bodies themselves (`routes::body`), but a JSON or
//! form extractor mounted later answers the same way. [`configure`] puts
//! the four configurations on the application.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::{App, HttpRequest, web};

use crate::domain::event::FieldError;
use crate::error::ApiError;

/// The limit of a JSON or form body read by an extractor: the admin
/// routes' (no route takes a larger one through an extractor).
const EXTRACTED_BODY_LIMIT: usize = super::body::MAX_ADMIN_BODY_BYTES;

/// The application with every extractor's error answered as JSON.
pub fn configure<T>(app: App<T>) -> App<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    app.app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(
            web::JsonConfig::default()
                .limit(EXTRACTED_BODY_LIMIT)
                .error_handler(json_error),
        )
        .app_data(
            web::FormConfig::default()
                .limit(EXTRACTED_BODY_LIMIT)
                .error_handler(form_error),
        )
}

/// The name serde quotes in its message (``duplicate field `limit` ``).
fn quoted_name(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    Some(name)
}

/// A query string that does not fit: 400 naming the parameter.
fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = match &error {
        QueryPayloadError::Deserialize(error) => error.to_string(),
        other => other.to_string(),
    };
    let field = quoted_name(&message).unwrap_or("query").to_owned();
    let problem = if message.starts_with("duplicate field") {
        "is given more than once; give it once".to_owned()
    } else {
        format!("does not fit the query parameters ({message})")
    };
    ApiError::InvalidQuery(FieldError::new(field, problem)).into()
}

/// A path whose parameters do not decode names nothing there is: 404.
fn path_error(error: PathError, request: &HttpRequest) -> actix_web::Error {
    log::debug!("path {} does not decode: {error}", request.path());
    ApiError::NotFound.into()
}

fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    match error {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::ContentType => {
            ApiError::BadRequest("Content-Type must be application/json".into())
        }
        JsonPayloadError::Deserialize(error) => {
            ApiError::BadRequest(format!("the body is not the expected JSON: {error}"))
        }
        other => ApiError::BadRequest(format!("the body could not be read: {other}")),
    }
    .into()
}

fn form_error(error: UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    match error {
        UrlencodedError::Overflow { limit, .. } => ApiError::PayloadTooLarge { limit },
        UrlencodedError::ContentType => {
            ApiError::BadRequest("Content-Type must be application/x-www-form-urlencoded".into())
        }
        UrlencodedError::Parse(error) => {
            ApiError::BadRequest(format!("the form does not fit its fields: {error}"))
        }
        other => ApiError::BadRequest(format!("the body could not be read: {other}")),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use actix_web::{HttpResponse, test};
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Fields {
        limit: Option<String>,
        count: Option<u32>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Numbered {
        id: u32,
    }

    async fn answer(
        request: test::TestRequest,
        uri: &str,
        route: actix_web::Route,
    ) -> (u16, String, Value) {
        let app = test::init_service(configure(App::new()).route(uri, route)).await;
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("Content-Type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = to_bytes(response.into_body()).await.unwrap();
        (status, content_type, serde_json::from_slice(&body).unwrap())
    }

    #[actix_web::test]
    async fn a_query_that_does_not_fit_is_a_json_400_naming_the_parameter() {
        let route = || web::get().to(|_: web::Query<Fields>| async { HttpResponse::Ok().finish() });
        let (status, content_type, body) = answer(
            test::TestRequest::get().uri("/q?limit=1&limit=2"),
            "/q",
            route(),
        )
        .await;
        assert_eq!((status, content_type.as_str()), (400, "application/json"));
        assert_eq!(
            body,
            json!({"error": "invalid_query", "message": "limit: is given more than once; give it once", "field": "limit"})
        );
        let (status, _, body) =
            answer(test::TestRequest::get().uri("/q?count=x"), "/q", route()).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"error": "invalid_query", "message": "query: does not fit the query parameters (invalid digit found in string)", "field": "query"})
        );
    }

    #[actix_web::test]
    async fn a_path_that_does_not_decode_is_a_json_404() {
        let route = web::get().to(|_: web::Path<Numbered>| async { HttpResponse::Ok().finish() });
        let (status, _, body) =
            answer(test::TestRequest::get().uri("/n/x"), "/n/{id}", route).await;
        assert_eq!(status, 404);
        assert_eq!(body, json!({"error": "not_found", "message": "not found"}));
    }

    #[actix_web::test]
    async fn json_and_form_bodies_that_do_not_fit_are_json_errors() {
        let json_route =
            || web::post().to(|_: web::Json<Numbered>| async { HttpResponse::Ok().finish() });
        let (status, _, body) = answer(
            test::TestRequest::post()
                .uri("/j")
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{\"id\": \"x\"}"),
            "/j",
            json_route(),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("the body is not the expected JSON: invalid type"),
            "{body}"
        );
        let (status, _, body) = answer(
            test::TestRequest::post()
                .uri("/j")
                .insert_header(("Content-Type", "text/plain"))
                .set_payload("{}"),
            "/j",
            json_route(),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"error": "bad_request", "message": "Content-Type must be application/json"})
        );
        let (status, _, body) = answer(
            test::TestRequest::post()
                .uri("/j")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(vec![b' '; EXTRACTED_BODY_LIMIT + 1]),
            "/j",
            json_route(),
        )
        .await;
        assert_eq!(status, 413);
        assert_eq!(
            body,
            json!({"error": "payload_too_large", "message": "the body is larger than the limit of 65536 bytes"})
        );
        let form_route =
            web::post().to(|_: web::Form<Numbered>| async { HttpResponse::Ok().finish() });
        let (status, _, body) = answer(
            test::TestRequest::post()
                .uri("/f")
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload("id=x"),
            "/f",
            form_route,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("the form does not fit its fields"),
            "{body}"
        );
    }
}

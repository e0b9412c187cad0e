//! The HTTP routes, one file per area, and the one table that mounts them
//! and documents them. Every known path answers a method it does not take
//! with 405, an `Allow` header and a JSON body; unknown paths answer 404
//! JSON.
//!
//! Each handler's `#[utoipa::path]` annotation says its methods and path;
//! [`endpoints`] lists the handlers, and from that one list [`configure`]
//! mounts them, [`mounted`] tells tests what is mounted and
//! [`docs::document`] writes the OpenAPI document.

pub mod admin;
pub mod body;
pub mod console;
pub mod docs;
pub mod extractors;
pub mod health;
pub mod insights;
pub mod insights_cache;
pub mod intake;
pub mod operator;
pub mod page;
pub mod params;
pub mod read_access;
pub mod request_log;
pub mod state;
pub mod store;

use actix_web::dev::Handler;
use actix_web::http::Method;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, Route, web};
use utoipa::openapi::path::{HttpMethod, Operation};

use crate::error::ApiError;

/// One handler with its `#[utoipa::path]` annotation: where it is mounted
/// (methods and path) and how it is documented.
pub struct Endpoint {
    pub methods: Vec<HttpMethod>,
    pub path: String,
    pub operation: Operation,
    /// The handler's Rust path, e.g. `alvares::routes::intake::accept_error`
    /// (a test checks it against the annotation's operation id).
    pub handler: &'static str,
    route: Box<dyn Fn(Method) -> Route>,
}

/// Pairs a handler with its annotation (`__path_<handler>`, the type
/// `#[utoipa::path]` generates).
fn endpoint<P, F, Args>(_annotation: P, handler: F) -> Endpoint
where
    P: utoipa::Path,
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    Endpoint {
        methods: P::methods(),
        path: P::path(),
        operation: P::operation(),
        handler: std::any::type_name::<F>(),
        route: Box::new(move |method| web::method(method).to(handler.clone())),
    }
}

/// Every route the service answers, in the order the document lists them.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(intake::__path_accept_deployment, intake::accept_deployment),
        endpoint(intake::__path_accept_error, intake::accept_error),
        endpoint(
            intake::__path_accept_recommendation,
            intake::accept_recommendation,
        ),
        endpoint(store::__path_deployments, store::deployments),
        endpoint(store::__path_deployment, store::deployment),
        endpoint(store::__path_latest_in_cluster, store::latest_in_cluster),
        endpoint(store::__path_event, store::event),
        endpoint(insights::__path_insights, insights::insights),
        endpoint(health::__path_healthz, health::healthz),
        endpoint(health::__path_readyz, health::readyz),
        endpoint(health::__path_metrics, health::metrics),
        endpoint(admin::actors::__path_actors, admin::actors::actors),
        endpoint(admin::actors::__path_actor, admin::actors::actor),
        endpoint(
            admin::switches::__path_switch_subscriber,
            admin::switches::switch_subscriber,
        ),
        endpoint(
            admin::dead_letters::__path_dead_letters,
            admin::dead_letters::dead_letters,
        ),
        endpoint(
            admin::dead_letters::__path_replay_subscriber,
            admin::dead_letters::replay_subscriber,
        ),
        endpoint(
            admin::dead_letters::__path_replay_one,
            admin::dead_letters::replay_one,
        ),
        endpoint(
            admin::events::__path_recent_events,
            admin::events::recent_events,
        ),
        endpoint(operator::__path_config, operator::config),
        endpoint(operator::__path_reload, operator::reload),
        endpoint(operator::__path_list_silences, operator::list_silences),
        endpoint(operator::__path_create_silence, operator::create_silence),
        endpoint(operator::__path_expire_silence, operator::expire_silence),
        endpoint(console::__path_redirect, console::redirect),
        endpoint(console::__path_page, console::page),
        endpoint(console::__path_stylesheet, console::stylesheet),
        endpoint(console::__path_script, console::script),
        endpoint(console::__path_module, console::module),
        endpoint(docs::__path_openapi_json, docs::openapi_json),
        endpoint(docs::__path_documentation, docs::documentation),
    ]
}

/// The HTTP method actix matches for a documented one.
pub fn http_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// Mounts every endpoint: one resource per path, with the routes of all
/// its methods, and a 405 naming them for any other method.
pub fn configure(config: &mut web::ServiceConfig) {
    let mut paths: Vec<(String, Vec<Method>, Vec<Route>)> = Vec::new();
    for endpoint in endpoints() {
        let at = match paths.iter().position(|(path, ..)| *path == endpoint.path) {
            Some(at) => at,
            None => {
                paths.push((endpoint.path.clone(), Vec::new(), Vec::new()));
                paths.len() - 1
            }
        };
        let (_, methods, routes) = &mut paths[at];
        for method in endpoint.methods.iter().map(http_method) {
            routes.push((endpoint.route)(method.clone()));
            methods.push(method);
        }
    }
    for (path, methods, routes) in paths {
        let allow = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        config.service(resource(path, allow, routes));
    }
}

/// Every (method, path pattern) [`configure`] mounts, e.g.
/// `("GET", "/api/v1/events/{id}")`.
pub fn mounted() -> Vec<(String, String)> {
    endpoints()
        .iter()
        .flat_map(|endpoint| {
            endpoint
                .methods
                .iter()
                .map(|method| (http_method(method).to_string(), endpoint.path.clone()))
        })
        .collect()
}

/// A path with its routes; any other method is a 405 naming `allow`.
fn resource(path: String, allow: String, routes: Vec<Route>) -> actix_web::Resource {
    let mut resource = web::resource(path.as_str());
    for route in routes {
        resource = resource.route(route);
    }
    resource.default_service(web::to(move || {
        let error = ApiError::MethodNotAllowed {
            path: path.clone(),
            allow: allow.clone(),
        };
        async move { Err::<HttpResponse, _>(error) }
    }))
}

/// JSON for paths no route knows.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in
/// any case, as RFC 7235 has it); empty when there is none.
pub fn bearer_token(request: &HttpRequest) -> &str {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .unwrap_or_default()
}

/// Logs a request refused for its token, without what was sent.
pub fn log_token_refused(area: &str, request: &HttpRequest, sent: &[u8]) {
    log::warn!(
        "{area}: refused {} {} from {}: {}",
        request.method(),
        // Percent-encoded as it came: no control characters.
        request.path(),
        request
            .peer_addr()
            .map(|addr| addr.ip().to_string())
            .unwrap_or_else(|| "an unknown peer".into()),
        if sent.is_empty() {
            "no bearer token"
        } else {
            "wrong token"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `endpoint(annotation, handler)` pairs each handler with its own
    /// annotation: the operation id utoipa takes from the annotated
    /// function's name is the handler's name.
    #[test]
    fn each_handler_is_paired_with_its_own_annotation() {
        for endpoint in endpoints() {
            let id = endpoint.operation.operation_id.clone().unwrap_or_default();
            assert!(
                endpoint.handler.ends_with(&format!("::{id}")),
                "{} is listed with the annotation of {id}",
                endpoint.handler
            );
        }
    }

    #[test]
    fn every_path_is_mounted_once_per_method() {
        let mounted = mounted();
        let mut unique = mounted.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), mounted.len(), "{mounted:?}");
    }
}

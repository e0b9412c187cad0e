//! `READ_TOKEN`: when set, the read API (`GET /api/v1/…`: deployments,
//! clusters, events, insights) requires `Authorization: Bearer <token>`.
//! The admin token is taken too, so the admin console (which sends it)
//! reads the insights either way. Health, metrics and the API description
//! stay open: they hold no event data.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use super::state::AppState;
pub use super::state::ReadAccess;
use super::{bearer_token, log_token_refused};
use crate::error::ApiError;

/// Proof that the request may read: every read handler takes one.
pub struct Reader;

impl FromRequest for Reader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(request))
    }
}

fn check(request: &HttpRequest) -> Result<Reader, ApiError> {
    // Mounted without its settings: closed rather than open.
    let access = &AppState::of(request)?.read_access;
    let Some(token) = &access.read else {
        return Ok(Reader);
    };
    let sent = bearer_token(request).as_bytes();
    // Both compared, in constant time, whatever the first gave.
    let read = bool::from(sent.ct_eq(token.expose().as_bytes()));
    let admin = access
        .admin
        .as_ref()
        .is_some_and(|admin| bool::from(sent.ct_eq(admin.expose().as_bytes())));
    if read | admin {
        return Ok(Reader);
    }
    log_token_refused("read API", request, sent);
    Err(ApiError::Unauthorized)
}

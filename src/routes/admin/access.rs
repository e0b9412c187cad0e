//! The admin token check every admin handler goes through.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
pub use crate::routes::state::AdminAccess;
use crate::routes::state::AppState;
use crate::routes::{bearer_token, log_token_refused};

/// Proof that the request carried the admin token; every admin handler
/// takes one, so none can forget the check.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(request))
    }
}

fn check(request: &HttpRequest) -> Result<Admin, ApiError> {
    let token = AppState::of(request)?
        .admin
        .0
        .as_ref()
        .ok_or(ApiError::AdminDisabled)?;
    let sent = bearer_token(request);
    if bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
        return Ok(Admin);
    }
    log_token_refused("admin", request, sent.as_bytes());
    Err(ApiError::Unauthorized)
}

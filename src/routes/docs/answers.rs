//! The error answers routes share: each is a reusable response in the
//! document's `components.responses`, with the one error body
//! ([`ErrorBody`]) and the headers that come with it. A route's
//! `#[utoipa::path]` names the ones it can give, e.g.
//! `(status = 404, response = NotFound)`.

use utoipa::ToSchema;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder};

use crate::error::ErrorBody;

fn error_answer(description: &str, headers: &[(&str, &str)]) -> RefOr<Response> {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", body);
    for (name, description) in headers {
        let header = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(*description))
            .build();
        response = response.header(*name, header);
    }
    response.build().into()
}

macro_rules! error_answers {
    ($(
        $(#[$meta:meta])*
        $name:ident: $description:literal $(, $header:literal => $header_description:literal)*;
    )*) => {
        $(
            $(#[$meta])*
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (
                        stringify!($name),
                        error_answer($description, &[$(($header, $header_description)),*]),
                    )
                }
            }
        )*
    };
}

error_answers! {
    /// 400 from intake.
    BadRequest: "`bad_request`: the body is not JSON, or not sent as `Content-Type: application/json`";
    /// 400 from a query route or an admin route.
    InvalidQuery: "`invalid_query`: a query parameter or the body has a wrong value; `field` names it";
    /// 401.
    Unauthorized: "`unauthorized`: no matching `Authorization: Bearer` token (the scheme in any case)",
        "WWW-Authenticate" => "`Bearer`";
    /// 403 from every admin route while the admin API is off.
    AdminDisabled: "`forbidden`: the admin API is off; set `ADMIN_TOKEN` to turn it on";
    /// 404.
    NotFound: "`not_found`: nothing has that id";
    /// 405 from any known path asked with a method it does not take.
    MethodNotAllowed: "`method_not_allowed`: the path does not take this method",
        "Allow" => "The methods the path takes, e.g. `PUT, POST`";
    /// 408 from intake.
    RequestTimeout: "`request_timeout`: the body did not arrive within `BODY_TIMEOUT_SECONDS`; the connection is closed";
    /// 413 from intake.
    PayloadTooLarge: "`payload_too_large`: the body is larger than `MAX_BODY_BYTES`";
    /// 413 from an admin route.
    AdminPayloadTooLarge: "`payload_too_large`: the body is larger than 64 KiB";
    /// 422 from intake.
    InvalidEvent: "`invalid_event`: the body has the wrong shape, a NUL character or a field past its bound (`field` names the field), or an `Idempotency-Key` that is not 1 to 255 visible ASCII characters or was already used for a different body";
    /// 422 from creating a silence.
    LimitExceeded: "`limit_exceeded`: past one of the service's bounds, e.g. too many patterns in a silence (`field` names the field) or too many silences not yet ended";
    /// 422 from a reload.
    InvalidConfig: "`invalid_config`: the configuration file does not validate (`line` names its line); the configuration in force stays";
    /// 409.
    Conflict: "`conflict`: the request does not fit the service's state, e.g. a reload without `ALVARES_CONFIG`";
    /// 503.
    Unavailable: "`unavailable`: storage is unavailable, failing to commit or full, or the service is overloaded or stopping; try again (a read stopped at `READ_TIMEOUT_MS` says so: ask for less)",
        "Retry-After" => "Seconds to wait before trying again";
    /// 500.
    Internal: "`internal`: an unexpected error (the details go to the log only)";
}

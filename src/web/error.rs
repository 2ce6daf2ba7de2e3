//! Error policy.
//!
//! - Store functions return diesel's `QueryResult`.
//! - Services return the domain's one error type, [`crate::model::Error`], whose variants say
//!   what went wrong (`NotFound`, `Validation`, `Conflict`, …); causes go in `Unexpected`.
//! - The web edge maps it to [`AppError`], which adds what only HTTP knows (a malformed body,
//!   a wrong method, a body too large or too slow, a failed CSRF check), and renders it as
//!   RFC 9457 problem+json for the API; the portal turns the same values into a page or a
//!   message beside the form.
//! - Unexpected errors are logged once, here, with their whole chain; clients see a generic text.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::model::Error;
use crate::model::protocol::OAuthCode;

/// Everything a request can fail with, as the client sees it: what the domain refused, or
/// what only HTTP knows.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// What a service refused or failed at.
    #[error(transparent)]
    Domain(#[from] Error),
    /// A request that cannot be read (a malformed body, form or query).
    #[error("{0}")]
    BadRequest(String),
    #[error("this resource does not answer {0}")]
    MethodNotAllowed(String),
    #[error("request body larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body did not arrive within {0} seconds")]
    RequestTimeout(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("missing or invalid CSRF token; reload the page and try again")]
    Csrf,
}

impl From<anyhow::Error> for AppError {
    fn from(cause: anyhow::Error) -> Self {
        AppError::Domain(Error::Unexpected(cause))
    }
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
}

impl AppError {
    /// Stable, machine-readable name of the problem (the tail of its `type` URI).
    pub fn slug(&self) -> &'static str {
        match self {
            AppError::Domain(error) => match error {
                Error::Validation(_) => "validation",
                Error::Unauthorized(_) => "unauthorized",
                Error::TokenRefused { error, .. } => match error {
                    OAuthCode::InsufficientScope => "insufficient-scope",
                    OAuthCode::InvalidDpopProof => "invalid-dpop-proof",
                    _ => "invalid-token",
                },
                Error::Forbidden(_) => "forbidden",
                Error::SecondFactorRequired(_) => "second-factor-required",
                Error::NotFound(_) => "not-found",
                Error::Conflict(_) => "conflict",
                Error::Gone(_) => "gone",
                Error::TooManyRequests(_) => "too-many-requests",
                Error::Unavailable(_) => "unavailable",
                Error::SigningUnavailable(_) => "signing-unavailable",
                Error::Unexpected(_) => "internal",
            },
            AppError::BadRequest(_) => "bad-request",
            AppError::MethodNotAllowed(_) => "method-not-allowed",
            AppError::PayloadTooLarge(_) => "payload-too-large",
            AppError::RequestTimeout(_) => "request-timeout",
            AppError::UnsupportedMediaType(_) => "unsupported-media-type",
            AppError::Csrf => "csrf",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            AppError::Domain(error) => match error {
                Error::Validation(_) => "Invalid input",
                Error::Unauthorized(_) => "Authentication required",
                Error::TokenRefused { error, .. } => error.title(),
                Error::Forbidden(_) => "Forbidden",
                Error::SecondFactorRequired(_) => "Second factor required",
                Error::NotFound(_) => "Not found",
                Error::Conflict(_) => "Conflict",
                Error::Gone(_) => "Gone",
                Error::TooManyRequests(_) => "Too many requests",
                Error::Unavailable(_) => "Service unavailable",
                Error::SigningUnavailable(_) => "Signing unavailable",
                Error::Unexpected(_) => "Internal error",
            },
            AppError::BadRequest(_) => "Bad request",
            AppError::MethodNotAllowed(_) => "Method not allowed",
            AppError::PayloadTooLarge(_) => "Payload too large",
            AppError::RequestTimeout(_) => "Request timeout",
            AppError::UnsupportedMediaType(_) => "Unsupported media type",
            AppError::Csrf => "CSRF check failed",
        }
    }

    /// The text shown to the user: the message for client errors, a generic one otherwise.
    pub fn detail(&self) -> String {
        match self {
            AppError::Domain(Error::Unexpected(_)) => {
                "the directory could not complete the request; it has been logged".into()
            }
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:ssa-directory:problem:{}", self.slug()),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
        }
    }

    /// Logs an unexpected error once, with its whole chain.
    pub fn log_if_unexpected(&self) {
        if let AppError::Domain(Error::Unexpected(cause)) = self {
            tracing::error!(error = format!("{cause:#}"), "unexpected error");
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Domain(error) => match error {
                Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                Error::TokenRefused { error, .. } => StatusCode::from_u16(error.resource_status())
                    .unwrap_or(StatusCode::UNAUTHORIZED),
                Error::Forbidden(_) | Error::SecondFactorRequired(_) => StatusCode::FORBIDDEN,
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::Conflict(_) => StatusCode::CONFLICT,
                Error::Gone(_) => StatusCode::GONE,
                Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
                Error::Unavailable(_) | Error::SigningUnavailable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Csrf => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log_if_unexpected();
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if let AppError::RequestTimeout(_) | AppError::PayloadTooLarge(_) = self {
            // The rest of the body may still arrive; it must not be read as a request.
            response.insert_header((header::CONNECTION, "close"));
        }
        if let AppError::Domain(Error::TokenRefused { error, description }) = self {
            // RFC 9449 section 7.1: the DPoP scheme, the error and what was wrong.
            let challenge = format!(
                "DPoP realm=\"ssa-directory\", error=\"{error}\", error_description=\"{}\", algs=\"{}\"",
                description.replace(['"', '\\'], "'"),
                crate::keys::proofs::ALGORITHMS.join(" ")
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.append_header((header::WWW_AUTHENTICATE, value));
            }
            // RFC 6750 section 3, for certificate-bound tokens (RFC 8705) sent as Bearer.
            let challenge = format!(
                "Bearer realm=\"ssa-directory\", error=\"{error}\", error_description=\"{}\"",
                description.replace(['"', '\\'], "'"),
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.append_header((header::WWW_AUTHENTICATE, value));
            }
        }
        if let AppError::Domain(Error::Unauthorized(_)) = self {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ssa-directory\""),
            ));
        }
        response.json(self.problem())
    }
}

/// The error of a request body that did not arrive within `body_read_timeout_secs`.
fn timed_out(error: &actix_web::error::PayloadError) -> bool {
    matches!(error, actix_web::error::PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// Limits that the error mappers name in their messages.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub bytes: usize,
    pub secs: u64,
}

impl From<&crate::config::Config> for BodyLimits {
    fn from(config: &crate::config::Config) -> Self {
        Self {
            bytes: config.max_body_bytes,
            secs: config.body_read_timeout_secs,
        }
    }
}

/// Maps actix's body extractor errors to problems that name what was wrong.
pub fn json_error(err: actix_web::error::JsonPayloadError, limits: BodyLimits) -> AppError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => {
            AppError::PayloadTooLarge(limits.bytes)
        }
        E::Payload(e) if timed_out(&e) => AppError::RequestTimeout(limits.secs),
        E::ContentType => {
            AppError::UnsupportedMediaType("expected a body of type application/json".into())
        }
        E::Deserialize(e) if e.is_data() => {
            Error::Validation(format!("invalid request: {e}")).into()
        }
        E::Deserialize(e) => AppError::BadRequest(format!("malformed JSON: {e}")),
        other => AppError::BadRequest(format!("cannot read the request body: {other}")),
    }
}

/// Maps form extractor errors the same way.
pub fn form_error(err: actix_web::error::UrlencodedError, limits: BodyLimits) -> AppError {
    use actix_web::error::UrlencodedError as E;
    match err {
        E::Overflow { .. } => AppError::PayloadTooLarge(limits.bytes),
        E::Payload(e) if timed_out(&e) => AppError::RequestTimeout(limits.secs),
        E::ContentType => AppError::UnsupportedMediaType(
            "expected a body of type application/x-www-form-urlencoded".into(),
        ),
        other => AppError::BadRequest(format!("invalid form: {other}")),
    }
}

/// Maps query-string errors.
pub fn query_error(err: actix_web::error::QueryPayloadError) -> AppError {
    AppError::BadRequest(format!("invalid query string: {err}"))
}

/// Maps path-segment errors (for example an id that is not a UUID) to 404: such an id names
/// nothing here.
pub fn path_error(_err: actix_web::error::PathError) -> AppError {
    Error::NotFound("resource").into()
}

/// Maps a failure to read a raw body (`web::Bytes`): too large is 413, too slow 408.
pub fn body_error(err: &actix_web::Error, limits: BodyLimits) -> AppError {
    match err.as_error::<actix_web::error::PayloadError>() {
        Some(actix_web::error::PayloadError::Overflow) => AppError::PayloadTooLarge(limits.bytes),
        Some(e) if timed_out(e) => AppError::RequestTimeout(limits.secs),
        _ => AppError::BadRequest(format!("cannot read the request body: {err}")),
    }
}

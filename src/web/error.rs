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

/// Everything a request can fail with, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Validation(String),
    #[error("authentication required: {0}")]
    Unauthorized(String),
    #[error("{description}")]
    TokenRefused {
        error: &'static str,
        description: String,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("this resource does not answer {0}")]
    MethodNotAllowed(String),
    #[error("request body larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body did not arrive within {0} seconds")]
    RequestTimeout(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("missing or invalid CSRF token; reload the page and try again")]
    Csrf,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl From<crate::model::Error> for AppError {
    fn from(error: crate::model::Error) -> Self {
        use crate::model::Error as E;
        match error {
            E::Validation(m) => AppError::Validation(m),
            E::Unauthorized(m) => AppError::Unauthorized(m),
            E::TokenRefused { error, description } => AppError::TokenRefused { error, description },
            E::Forbidden(m) => AppError::Forbidden(m),
            E::NotFound(what) => AppError::NotFound(what),
            E::Conflict(m) => AppError::Conflict(m),
            E::Gone(m) => AppError::Gone(m),
            E::TooManyRequests(m) => AppError::TooManyRequests(m),
            E::Unavailable(m) => AppError::Unavailable(m),
            E::Unexpected(cause) => AppError::Unexpected(cause),
        }
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
            AppError::BadRequest(_) => "bad-request",
            AppError::Validation(_) => "validation",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::TokenRefused { error, .. } => match *error {
                "insufficient_scope" => "insufficient-scope",
                "invalid_dpop_proof" => "invalid-dpop-proof",
                _ => "invalid-token",
            },
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not-found",
            AppError::Conflict(_) => "conflict",
            AppError::Gone(_) => "gone",
            AppError::MethodNotAllowed(_) => "method-not-allowed",
            AppError::PayloadTooLarge(_) => "payload-too-large",
            AppError::RequestTimeout(_) => "request-timeout",
            AppError::UnsupportedMediaType(_) => "unsupported-media-type",
            AppError::TooManyRequests(_) => "too-many-requests",
            AppError::Csrf => "csrf",
            AppError::Unavailable(_) => "unavailable",
            AppError::Unexpected(_) => "internal",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "Bad request",
            AppError::Validation(_) => "Invalid input",
            AppError::Unauthorized(_) => "Authentication required",
            AppError::TokenRefused { error, .. } => match *error {
                "insufficient_scope" => "Insufficient scope",
                "invalid_dpop_proof" => "Invalid DPoP proof",
                _ => "Invalid token",
            },
            AppError::Forbidden(_) => "Forbidden",
            AppError::NotFound(_) => "Not found",
            AppError::Conflict(_) => "Conflict",
            AppError::Gone(_) => "Gone",
            AppError::MethodNotAllowed(_) => "Method not allowed",
            AppError::PayloadTooLarge(_) => "Payload too large",
            AppError::RequestTimeout(_) => "Request timeout",
            AppError::UnsupportedMediaType(_) => "Unsupported media type",
            AppError::TooManyRequests(_) => "Too many requests",
            AppError::Csrf => "CSRF check failed",
            AppError::Unavailable(_) => "Service unavailable",
            AppError::Unexpected(_) => "Internal error",
        }
    }

    /// The text shown to the user: the message for client errors, a generic one otherwise.
    pub fn detail(&self) -> String {
        match self {
            AppError::Unexpected(_) => {
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
        if let AppError::Unexpected(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "unexpected error");
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::TokenRefused { error, .. } if *error == "insufficient_scope" => {
                StatusCode::FORBIDDEN
            }
            AppError::TokenRefused { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
        if let AppError::TokenRefused { error, description } = self {
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
        if let AppError::Unauthorized(_) = self {
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
        E::Deserialize(e) if e.is_data() => AppError::Validation(format!("invalid request: {e}")),
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
    AppError::NotFound("resource")
}

/// Maps a failure to read a raw body (`web::Bytes`): too large is 413, too slow 408.
pub fn body_error(err: &actix_web::Error, limits: BodyLimits) -> AppError {
    match err.as_error::<actix_web::error::PayloadError>() {
        Some(actix_web::error::PayloadError::Overflow) => AppError::PayloadTooLarge(limits.bytes),
        Some(e) if timed_out(e) => AppError::RequestTimeout(limits.secs),
        _ => AppError::BadRequest(format!("cannot read the request body: {err}")),
    }
}

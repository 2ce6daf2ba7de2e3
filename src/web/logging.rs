//! The root span of every request and what its outcome logs.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;

use super::error::AppError;

/// The root span of every request, as [`tracing_actix_web`] would build it, except that
/// `http.target` is the path alone: query strings are never logged (they can carry secrets
/// such as tokens, which the API refuses there anyway but a careless client still sends).
///
/// The outcome is an event only where a person should read it: a server error that is not
/// an unexpected one ([`crate::model::Error::Unexpected`], logged once with its cause where
/// it is rendered) at ERROR, a client error at DEBUG, and nothing for redirects.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let request_id = request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let client_ip = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_owned();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("http.status_code", status.as_u16());
        let Some(error) = error else {
            return;
        };
        let message = error.to_string();
        span.record("exception.message", message.as_str());
        let _entered = span.enter();
        if status.is_server_error() {
            if !matches!(
                error.as_error::<AppError>(),
                Some(AppError::Domain(crate::model::Error::Unexpected(_)))
            ) {
                tracing::error!(status = status.as_u16(), error = %message, "request failed");
            }
        } else if status.is_client_error() {
            tracing::debug!(status = status.as_u16(), error = %message, "request refused");
        }
    }
}

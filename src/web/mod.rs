//! The HTTP layer: handlers only. `api/` is the JSON API, `portal/` the server-rendered pages,
//! `public/` the unauthenticated documents. Handlers parse, authorize, call the domain and render.

pub mod api;
pub mod auth;
pub mod error;
pub mod logging;
pub mod portal;
pub mod public;
pub mod routes;
pub mod tls;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use tracing_actix_web::RequestId;

use crate::config::Config;
use crate::model::Error;
use crate::services::Directory;
use error::AppError;

/// Name of the response header that carries the request id, as logged in the request's span.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The portal's session cookie middleware. Only the portal's routes pass through it: the API
/// authenticates with bearer tokens, and the public documents (JWKS, keystore, status, PKI)
/// are the same for everyone, so neither pays for reading or writing a session.
pub type Sessions = actix_session::SessionMiddleware<actix_session::storage::CookieSessionStore>;

/// Whether the request's body is a form (`application/x-www-form-urlencoded`).
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Composes every route and the body-extractor limits.
pub fn configure(cfg: &mut web::ServiceConfig, config: &Config, sessions: Sessions) {
    let limits = error::BodyLimits::from(config);
    cfg.app_data(
        web::JsonConfig::default()
            .limit(limits.bytes)
            .error_handler(move |err, _| error::json_error(err, limits).into()),
    )
    .app_data(
        web::FormConfig::default()
            .limit(limits.bytes)
            .error_handler(move |err, _| error::form_error(err, limits).into()),
    )
    .app_data(web::PayloadConfig::default().limit(limits.bytes))
    .app_data(web::QueryConfig::default().error_handler(|err, _| error::query_error(err).into()))
    .app_data(web::PathConfig::default().error_handler(|err, _| error::path_error(err).into()))
    .configure(|cfg| public::routes().register(cfg))
    .configure(|cfg| api::routes().register(cfg))
    // The portal's scope has no prefix, so every other path ends here, and unknown paths get
    // the scope's not-found answer.
    .service(
        web::scope("")
            .wrap(actix_web::middleware::from_fn(
                portal::signed_in_error_pages,
            ))
            .wrap(sessions)
            .configure(portal::configure)
            .default_service(web::to(not_found)),
    )
    // Inherited by the other scopes (`/api/v1`) for their unknown paths.
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest, user: auth::SessionUser) -> Result<HttpResponse, AppError> {
    if wants_html(&req) {
        // A signed-in visitor keeps their header (their links, their log-out).
        return Ok(portal::not_found_page(&req, user.0.as_ref()));
    }
    Err(AppError::Domain(Error::NotFound("route")))
}

/// Characters a path segment built from user data keeps as they are: RFC 3986's unreserved
/// ones. Everything else (`/`, `.` runs are harmless once `/` is encoded, spaces, non-ASCII)
/// is percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment from user data (such as a key's `kid`), percent-encoded for a URL or a
/// `Location` header.
pub fn segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, SEGMENT).to_string()
}

/// Every route outside the portal, as (method, path): what the OpenAPI document must
/// describe.
pub fn documented_routes() -> Vec<(actix_web::http::Method, String)> {
    let mut routes = public::routes().listing();
    routes.extend(api::routes().listing());
    routes
}

/// True when the client is a browser asking for a page rather than an API client.
pub fn wants_html(req: &HttpRequest) -> bool {
    !req.path().starts_with("/api/")
        && req
            .headers()
            .get(actix_web::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// Gives actix's bare `405 Method Not Allowed` (a known path asked with another method) a
/// problem+json body that names the methods, keeping its `Allow` header.
pub fn method_not_allowed<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let allow = res.headers().get(header::ALLOW).cloned();
    let methods = allow
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (req, _) = res.into_parts();
    let error = AppError::MethodNotAllowed(format!("{} (it answers {methods})", req.method()));
    let mut response = error.error_response();
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// Middleware: bounds the time a request body may take to arrive. A client that announces a
/// body and sends it slowly (or never) would otherwise hold its connection and a file
/// descriptor for as long as it likes; once `limit` has passed since the request head, the
/// body's stream fails with `TimedOut`, which the extractors answer with 408.
pub async fn bound_body_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let declares_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let limit = req
        .app_data::<web::Data<Directory>>()
        .map(|state| std::time::Duration::from_secs(state.config.body_read_timeout_secs));
    if let (true, Some(limit)) = (declares_body, limit) {
        let payload = req.take_payload();
        req.set_payload(actix_web::dev::Payload::Stream {
            payload: Box::pin(DeadlinePayload {
                inner: payload,
                deadline: Box::pin(tokio::time::sleep(limit)),
                expired: false,
            }),
        });
    }
    next.call(req).await
}

/// A request body that fails with `TimedOut` once its deadline has passed.
struct DeadlinePayload {
    inner: actix_web::dev::Payload,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl futures_util::Stream for DeadlinePayload {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::task::Poll;
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired = true;
                    Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the request body did not arrive in time",
                        ),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}

/// Middleware: refuses an access token in the query string (`?access_token=…`, which RFC
/// 6750 section 2.3 permits and this directory does not): URLs end up in logs, proxies and
/// browser history. Tokens go in the `Authorization` header.
pub async fn refuse_query_tokens(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let carries_token = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(name, _)| name == "access_token");
    if carries_token {
        let refusal = AppError::BadRequest(
            "access_token: tokens are never accepted in the URL (URLs are logged and cached); send Authorization: Bearer <token>".into(),
        );
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Middleware: returns the request id of the request's tracing span in `x-request-id`.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;
    if let Some(id) = id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

/// Middleware: records every request under its route pattern (not its raw path, which would
/// make one series per id).
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let metrics = req
        .app_data::<web::Data<Directory>>()
        .map(|state| state.metrics.clone());
    let started = std::time::Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

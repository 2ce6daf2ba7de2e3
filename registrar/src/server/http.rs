//! The HTTP plumbing every handler shares: error answers, read timeouts for request bodies,
//! JSON 404 and 405, the blocking-pool helpers, and the issuer challenge's static answers.

use super::*;

/// The answer to a request the registrar cannot read (a query or path it does not
/// understand): RFC 6749's `invalid_request`, as JSON.
pub(super) fn invalid_request(description: String) -> actix_web::Error {
    let body = json!({"error": "invalid_request", "error_description": description});
    actix_web::error::InternalError::from_response(
        description,
        HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body),
    )
    .into()
}

/// The answer to a directory's proof-of-control challenge `token`: the file of that name in
/// the challenge folder, as text (a token is base64url; anything else names no file).
pub(super) async fn issuer_challenge(
    state: web::Data<State>,
    path: web::Path<String>,
) -> HttpResponse {
    let token = path.into_inner();
    let well_formed = !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let answer = match (&state.challenge_dir, well_formed) {
        (Some(dir), true) => std::fs::read_to_string(dir.join(&token)).ok(),
        _ => None,
    };
    match answer {
        Some(answer) => HttpResponse::Ok()
            .content_type("text/plain")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(answer.trim().to_owned()),
        None => HttpResponse::NotFound().json(json!({
            "error": "not_found",
            "error_description": "no answer to this challenge is in the challenge folder (SSA_REGISTRAR_CHALLENGE_DIR)",
        })),
    }
}

/// A path the registrar does not serve: a JSON `404`.
pub(super) async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "error": "not_found",
        "error_description": format!("the registrar serves nothing at {}", req.path()),
    }))
}

/// A path it serves, with a method it does not: `405` with the methods it answers (`Allow`).
pub(super) fn method_not_allowed<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let allow = match res.request().match_pattern().as_deref() {
        Some("/register" | "/federation/register" | "/federation/automatic") => "POST",
        Some("/register/{client_id}") => "GET, PUT, DELETE",
        Some(_) => "GET",
        None => "",
    };
    let (req, _) = res.into_parts();
    let response = HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(json!({
            "error": "invalid_request",
            "error_description": format!("{} {} is not served here; it answers {allow}", req.method(), req.path()),
        }));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// Middleware: bounds the time a request body may take to arrive after the request head (the
/// server already bounds the head). A client that announces a body and sends it slowly, or
/// never, would otherwise hold its connection and a file descriptor as long as it likes; once
/// the limit has passed the body's stream ends with `TimedOut`, and the answer is a `408`
/// that closes the connection, whatever the handler made of the cut body.
pub(super) async fn bound_body_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let declares_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let limit = req
        .app_data::<web::Data<State>>()
        .map(|state| state.body_read_timeout);
    let expired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let (true, Some(limit)) = (declares_body, limit) {
        let payload = req.take_payload();
        req.set_payload(actix_web::dev::Payload::Stream {
            payload: Box::pin(DeadlinePayload {
                inner: payload,
                deadline: Box::pin(tokio::time::sleep(limit)),
                expired: expired.clone(),
            }),
        });
    }
    let response = next.call(req).await?;
    if !expired.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(response.map_into_boxed_body());
    }
    let (req, _) = response.into_parts();
    let timeout = HttpResponse::RequestTimeout()
        .insert_header((header::CONNECTION, "close"))
        .json(json!({
            "error": "invalid_request",
            "error_description": "the request body did not arrive in time",
        }));
    Ok(ServiceResponse::new(req, timeout))
}

/// A request body that fails with `TimedOut` once its deadline has passed.
pub(super) struct DeadlinePayload {
    inner: actix_web::dev::Payload,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    expired: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl futures_core::Stream for DeadlinePayload {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::sync::atomic::Ordering;
        use std::task::Poll;
        let this = self.get_mut();
        if this.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired.store(true, Ordering::Relaxed);
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

pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(super) fn error(e: &RegistrationError) -> HttpResponse {
    let mut response = if e.status() == 401 {
        let mut r = HttpResponse::Unauthorized();
        r.insert_header((
            header::WWW_AUTHENTICATE,
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                e.error_description.replace('"', "'")
            ),
        ));
        r
    } else {
        HttpResponse::BadRequest()
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(e.to_json())
}

pub(super) fn server_error(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "registration failed");
    HttpResponse::InternalServerError()
        .content_type("application/json")
        .body(json!({"error": "server_error", "error_description": "the registration could not be stored"}).to_string())
}

/// Why a request did not succeed: a refusal answered as RFC 7591 error JSON (`400`, or `401`
/// with `WWW-Authenticate`), a client the registrar does not know (`404`), or a failure of
/// its own (`500`, logged, its cause never shown). Handlers return it with `?`.
#[derive(Debug)]
pub(super) enum Failure {
    Refused(RegistrationError),
    NotFound,
    Internal(anyhow::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(e) => write!(f, "{}: {}", e.error.as_str(), e.error_description),
            Failure::NotFound => f.write_str("no such client"),
            Failure::Internal(e) => write!(f, "{e:#}"),
        }
    }
}

impl actix_web::ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Failure::Refused(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Failure::Refused(e) => error(e),
            Failure::NotFound => HttpResponse::NotFound()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({"error": "not_found", "error_description": "no such client"})),
            Failure::Internal(e) => server_error(e),
        }
    }
}

impl From<RegistrationError> for Failure {
    fn from(e: RegistrationError) -> Self {
        Failure::Refused(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Internal(e)
    }
}

impl From<actix_web::error::BlockingError> for Failure {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Failure::Internal(anyhow::anyhow!("{e}"))
    }
}

pub(super) fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// The outcome of a write on the blocking pool.
pub(super) enum Stored {
    Done(Value, u16),
    Refused(RegistrationError),
}

/// A pooled connection taken when first needed: a stateless registration without an initial
/// token needs none.
pub(super) struct Lazy<'a> {
    pub(super) pool: &'a Pool,
    pub(super) conn: Option<store::Pooled>,
}

impl Lazy<'_> {
    pub(super) fn db(&mut self) -> Result<&mut Db, anyhow::Error> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.get()?,
        };
        Ok(self.conn.insert(conn))
    }
}

pub(super) async fn blocking<F>(state: &web::Data<State>, f: F) -> HttpResponse
where
    F: FnOnce(&State, &mut Lazy) -> Result<Stored, anyhow::Error> + Send + 'static,
{
    let state = state.clone().into_inner();
    let result = web::block(move || -> Result<Stored, anyhow::Error> {
        let mut conn = Lazy {
            pool: &state.pool,
            conn: None,
        };
        f(&state, &mut conn)
    })
    .await;
    respond(result.map_err(anyhow::Error::from).and_then(|r| r))
}

/// Runs `f` on the HTTP worker: only for work that neither waits on the database nor fetches.
pub(super) fn inline<F>(state: &web::Data<State>, f: F) -> HttpResponse
where
    F: FnOnce(&State, &mut Lazy) -> Result<Stored, anyhow::Error>,
{
    let mut conn = Lazy {
        pool: &state.pool,
        conn: None,
    };
    respond(f(state, &mut conn))
}

pub(super) fn respond(result: Result<Stored, anyhow::Error>) -> HttpResponse {
    let answer = match result {
        Ok(Stored::Done(body, status)) => {
            let status = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::OK);
            return HttpResponse::build(status)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(body);
        }
        Ok(Stored::Refused(e)) => Failure::Refused(e),
        Err(e) => Failure::Internal(e),
    };
    actix_web::ResponseError::error_response(&answer)
}

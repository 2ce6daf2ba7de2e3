//! Who is calling: bearer tokens for the API ([`ApiUser`]), the session cookie for the portal
//! ([`SessionUser`]), and the portal's CSRF protection ([`csrf_token`], [`PortalForm`]).

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::{self, AppError};
use crate::model::Actor;
use crate::model::Error;
use crate::model::account::User;
use crate::model::client::Scope;
use crate::model::protocol::OAuthCode;
use crate::services::{Directory, accounts};

/// The session cookie's key for the server-side session's secret.
const SESSION_ID: &str = "sid";
const SESSION_CSRF: &str = "csrf";
const SESSION_FLASH: &str = "flash";

fn state(req: &HttpRequest) -> Result<web::Data<Directory>, AppError> {
    req.app_data::<web::Data<Directory>>()
        .cloned()
        .ok_or_else(|| {
            AppError::Domain(Error::Unexpected(anyhow::anyhow!(
                "application state missing"
            )))
        })
}

/// The API token of a request (`Authorization: Bearer <token>`), not yet checked: for
/// handlers that authenticate it in the same database call as their own work.
pub struct BearerToken(pub String);

impl BearerToken {
    fn parse(req: &HttpRequest) -> Result<Self, AppError> {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                AppError::Domain(Error::Unauthorized(
                    "send an API token as Authorization: Bearer <token>".into(),
                ))
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                AppError::Domain(Error::Unauthorized(
                    "the Authorization header must use the Bearer scheme".into(),
                ))
            })?;
        Ok(Self(token.to_owned()))
    }
}

impl FromRequest for BearerToken {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::parse(req))
    }
}

/// The caller of an API endpoint: a person by `Authorization: Bearer <token>`, or a software
/// product by `Authorization: DPoP <token>` with a DPoP proof, within the calls
/// `MACHINE_ROUTES` lists and the scopes its token holds.
pub struct ApiUser(pub Actor);

/// What a machine client's token may call, by method and route, and the scope each call
/// needs; anything else answers 403 to a machine client. Which product or organisation it
/// reaches is the access rules' (`services::access`).
const MACHINE_ROUTES: &[(&str, &str, Scope)] = &[
    (
        "GET",
        "/api/v1/software/{software_id}",
        Scope::DirectoryRead,
    ),
    (
        "GET",
        "/api/v1/software/{software_id}/keys",
        Scope::DirectoryRead,
    ),
    (
        "POST",
        "/api/v1/software/{software_id}/keys",
        Scope::KeysWrite,
    ),
    (
        "DELETE",
        "/api/v1/software/{software_id}/keys/{kid}",
        Scope::KeysWrite,
    ),
    (
        "POST",
        "/api/v1/software/{software_id}/ssa",
        Scope::SsaIssue,
    ),
    (
        "GET",
        "/api/v1/software/{software_id}/certificates",
        Scope::DirectoryRead,
    ),
    (
        "POST",
        "/api/v1/software/{software_id}/certificates",
        Scope::CertificatesWrite,
    ),
    ("GET", "/api/v1/certificates/{serial}", Scope::DirectoryRead),
    (
        "POST",
        "/api/v1/certificates/validate",
        Scope::DirectoryRead,
    ),
    (
        "POST",
        "/api/v1/certificates/{serial}/revoke",
        Scope::CertificatesWrite,
    ),
    // An organisation's token (a product's token finds no organisation: 404).
    (
        "GET",
        "/api/v1/organisations/{org_id}",
        Scope::DirectoryRead,
    ),
    (
        "GET",
        "/api/v1/organisations/{org_id}/software",
        Scope::DirectoryRead,
    ),
    (
        "GET",
        "/api/v1/organisations/{org_id}/keys",
        Scope::DirectoryRead,
    ),
    (
        "POST",
        "/api/v1/organisations/{org_id}/keys",
        Scope::KeysWrite,
    ),
    (
        "DELETE",
        "/api/v1/organisations/{org_id}/keys/{kid}",
        Scope::KeysWrite,
    ),
    (
        "GET",
        "/api/v1/organisations/{org_id}/subscriptions",
        Scope::EventsSubscribe,
    ),
    (
        "POST",
        "/api/v1/organisations/{org_id}/subscriptions",
        Scope::EventsSubscribe,
    ),
    (
        "GET",
        "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}",
        Scope::EventsSubscribe,
    ),
    (
        "PATCH",
        "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}",
        Scope::EventsSubscribe,
    ),
    (
        "DELETE",
        "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}",
        Scope::EventsSubscribe,
    ),
    (
        "POST",
        "/api/v1/organisations/{org_id}/subscriptions/{subscription_id}/poll",
        Scope::EventsSubscribe,
    ),
];

/// Whether a request carries a machine client's token (`Authorization: DPoP`, or a client
/// token sent as a bearer token, which is then refused).
pub fn is_machine(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    value.starts_with("DPoP ")
        || value
            .strip_prefix("Bearer ")
            .is_some_and(|t| crate::keys::credentials::is_client_token(t.trim()))
}

/// The request's DPoP proof (RFC 9449), if it sends one; more than one `DPoP` header, or one
/// that is not ASCII, is an error saying so.
pub fn dpop_proof(req: &HttpRequest) -> Result<Option<String>, &'static str> {
    let mut proofs = req.headers().get_all("dpop");
    match (proofs.next(), proofs.next()) {
        (None, _) => Ok(None),
        (Some(proof), None) => proof
            .to_str()
            .map(|p| Some(p.to_owned()))
            .map_err(|_| "the DPoP header is not ASCII"),
        (Some(_), Some(_)) => Err("send exactly one DPoP header"),
    }
}

/// Authenticates a machine client's request: its token and DPoP proof, then whether the
/// route is one a product may call and its token has the scope.
async fn machine(req: &HttpRequest) -> Result<Actor, AppError> {
    let state = state(req)?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (token, dpop_scheme) = match value.strip_prefix("DPoP ") {
        Some(token) => (token.trim(), true),
        None => (
            value
                .strip_prefix("Bearer ")
                .map(str::trim)
                .unwrap_or_default(),
            false,
        ),
    };
    let proof = dpop_proof(req).map_err(|why| Error::TokenRefused {
        error: OAuthCode::InvalidDpopProof,
        description: why.into(),
    })?;
    let presented = crate::services::oauth::Presented {
        dpop_scheme,
        proof,
        certificate: if dpop_scheme {
            None
        } else {
            super::tls::client_certificate(&state.config, req)
        },
    };
    let url = format!("{}{}", super::tls::base_url(&state, req), req.path());
    let actor = crate::services::oauth::authenticate(
        &state,
        token.to_owned(),
        presented,
        req.method().as_str().to_owned(),
        url,
    )
    .await?;
    let pattern = req.match_pattern().unwrap_or_default();
    let Some((.., scope)) = MACHINE_ROUTES
        .iter()
        .find(|(method, route, _)| *method == req.method().as_str() && *route == pattern)
    else {
        return Err(AppError::Domain(Error::Forbidden(
            "a software product's token may not call this; a person's API token may".into(),
        )));
    };
    if let Actor::Client { scopes, .. } = &actor
        && !scopes.contains(scope)
    {
        return Err(Error::TokenRefused {
            error: OAuthCode::InsufficientScope,
            description: format!("this call needs the scope {}", scope.as_str()),
        }
        .into());
    }
    Ok(actor)
}

/// The caller of an endpoint that authenticates a person's token in the same database call
/// as its own work: the person's token unchecked, or a software product authenticated (with
/// its DPoP proof and scopes) on its own.
pub enum TokenOrClient {
    Token(String),
    Client(Actor),
}

impl FromRequest for TokenOrClient {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if is_machine(req) {
            let req = req.clone();
            return Box::pin(async move { machine(&req).await.map(TokenOrClient::Client) });
        }
        let token = BearerToken::parse(req);
        Box::pin(async move { Ok(TokenOrClient::Token(token?.0)) })
    }
}

impl FromRequest for ApiUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if is_machine(req) {
            let req = req.clone();
            return Box::pin(async move { machine(&req).await.map(ApiUser) });
        }
        let token = BearerToken::parse(req);
        let state = state(req);
        Box::pin(async move {
            let (state, token) = (state?, token?);
            let actor = accounts::authenticate_token(&state, token.0).await?;
            Ok(ApiUser(actor))
        })
    }
}

/// The signed-in portal user, or `None`. The cookie only names a session kept on the server,
/// which is looked up with its account on every request: a session ended by logout, expiry,
/// a password change or a disabled account stops at once, on every instance.
pub struct SessionUser(pub Option<User>);

impl FromRequest for SessionUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = state(req);
        Box::pin(async move {
            let state = state?;
            let Some(secret) = session.get::<String>(SESSION_ID).unwrap_or(None) else {
                return Ok(SessionUser(None));
            };
            let user = accounts::resolve_session(&state, secret, false).await?;
            if user.is_none()
                && accounts::resolve_session(&state, secret_of(&session), true)
                    .await?
                    .is_none()
            {
                session.purge();
            }
            Ok(SessionUser(user))
        })
    }
}

/// The session secret the cookie names (empty when none).
pub(crate) fn secret_of(session: &Session) -> String {
    session
        .get::<String>(SESSION_ID)
        .unwrap_or(None)
        .unwrap_or_default()
}

/// A portal user half-way through logging in: the password passed, the account's second
/// factor not yet. Reaches only the second step of the log-in.
pub struct AwaitingUser(pub Option<(User, String)>);

impl FromRequest for AwaitingUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = state(req);
        Box::pin(async move {
            let state = state?;
            let secret = secret_of(&session);
            if secret.is_empty() {
                return Ok(AwaitingUser(None));
            }
            let user = accounts::resolve_session(&state, secret.clone(), true).await?;
            Ok(AwaitingUser(user.map(|u| (u, secret))))
        })
    }
}

/// Starts a fresh session for a user whose password just passed: a session on the server
/// that ends after `session_ttl_secs`, a new cookie, a new CSRF token. True when it awaits
/// the account's second factor.
pub async fn log_in(
    state: &std::sync::Arc<Directory>,
    session: &Session,
    user: &User,
) -> Result<bool, AppError> {
    start(state, session, user, false).await
}

/// A fresh session in place of a signed-in one (after a password change): it keeps the
/// second factor the old one passed.
pub async fn restart(
    state: &std::sync::Arc<Directory>,
    session: &Session,
    user: &User,
) -> Result<(), AppError> {
    start(state, session, user, true).await.map(drop)
}

async fn start(
    state: &std::sync::Arc<Directory>,
    session: &Session,
    user: &User,
    second_factor_passed: bool,
) -> Result<bool, AppError> {
    let (secret, awaiting) = accounts::start_session(state, user.id, second_factor_passed).await?;
    session.renew();
    session.clear();
    session.insert(SESSION_ID, &secret).map_err(|e| {
        AppError::Domain(Error::Unexpected(anyhow::anyhow!(
            "cannot write the session: {e}"
        )))
    })?;
    Ok(awaiting)
}

/// Ends the browser's session on the server and removes its cookie.
pub async fn log_out(state: &std::sync::Arc<Directory>, session: &Session) -> Result<(), AppError> {
    if let Some(secret) = session.get::<String>(SESSION_ID).unwrap_or(None) {
        accounts::end_session(state, secret).await?;
    }
    session.purge();
    Ok(())
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(SESSION_CSRF) {
        return token;
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let _ = session.insert(SESSION_CSRF, &token);
    token
}

/// A message shown once on the next page.
pub fn set_flash(session: &Session, message: impl Into<String>) {
    let _ = session.insert(SESSION_FLASH, message.into());
}

pub fn take_flash(session: &Session) -> Option<String> {
    session
        .remove_as::<String>(SESSION_FLASH)
        .and_then(Result::ok)
}

/// A portal form: the body is read (within the size limit), the CSRF token in its
/// `csrf_token` field is checked against the session in constant time, a cross-site `Origin`
/// is refused, and the fields are parsed into `T` (repeated keys become lists).
pub struct PortalForm<T>(pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

impl<T: DeserializeOwned + 'static> FromRequest for PortalForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = form_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            let form = serde_html_form::from_bytes(&body)
                .map_err(|e| AppError::BadRequest(format!("invalid form: {e}")))?;
            Ok(PortalForm(form))
        })
    }
}

/// A portal form's body, read as [`PortalForm`] reads it: a form, within the limits, from
/// the directory's own origin, with the session's CSRF token.
pub(crate) fn form_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Pin<Box<dyn Future<Output = Result<web::Bytes, AppError>>>> {
    let req = req.clone();
    let body = web::Bytes::from_request(&req, payload);
    Box::pin(async move {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(AppError::UnsupportedMediaType(
                "expected a form (application/x-www-form-urlencoded)".into(),
            ));
        }
        let body = portal_body(&req, body).await?;
        let sent: CsrfField = serde_html_form::from_bytes(&body)
            .map_err(|e| AppError::BadRequest(format!("invalid form: {e}")))?;
        check_csrf_token(&req, &sent.csrf_token)?;
        Ok(body)
    })
}

/// A portal form sent as `multipart/form-data` (for file uploads): the whole body, boundaries
/// and part headers included, is read within the size limit before it is parsed (counting
/// only the fields' contents let an 80 MB form of 80,000 empty parts through); a form of more
/// than [`PortalMultipart::MAX_PARTS`] parts is refused; a cross-site `Origin` is refused and
/// the `csrf_token` field is checked, as for [`PortalForm`].
pub struct PortalMultipart(std::collections::HashMap<String, Vec<u8>>);

impl PortalMultipart {
    /// The most parts a portal form may have: its fields, with room to spare.
    pub const MAX_PARTS: usize = 8;

    /// A field as text (an empty string when it is absent).
    pub fn text(&self, name: &str) -> String {
        self.0
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    }
}

impl FromRequest for PortalMultipart {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        use futures_util::StreamExt;
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = portal_body(&req, body).await?;
            let invalid =
                |e: &dyn std::fmt::Display| AppError::BadRequest(format!("invalid upload: {e}"));
            let mut payload = actix_multipart::Multipart::new(
                req.headers(),
                futures_util::stream::once(async move { Ok(body) }),
            );
            let mut fields = std::collections::HashMap::new();
            let mut parts = 0;
            while let Some(field) = payload.next().await {
                parts += 1;
                if parts > Self::MAX_PARTS {
                    return Err(AppError::BadRequest(format!(
                        "invalid upload: more than {} parts",
                        Self::MAX_PARTS
                    )));
                }
                let mut field = field.map_err(|e| invalid(&e))?;
                let name = field.name().unwrap_or_default().to_owned();
                let mut value = Vec::new();
                while let Some(chunk) = field.next().await {
                    value.extend_from_slice(&chunk.map_err(|e| invalid(&e))?);
                }
                fields.insert(name, value);
            }
            let form = PortalMultipart(fields);
            check_csrf_token(&req, &form.text("csrf_token"))?;
            Ok(form)
        })
    }
}

/// A portal form's body: a cross-site `Origin` is refused, then the body is read within the
/// size and time limits.
async fn portal_body(
    req: &HttpRequest,
    body: impl Future<Output = Result<web::Bytes, actix_web::Error>>,
) -> Result<web::Bytes, AppError> {
    let state = state(req)?;
    check_origin(req, &state)?;
    body.await
        .map_err(|e| error::body_error(&e, error::BodyLimits::from(&state.config)))
}

/// Refuses a cross-site `Origin`.
pub fn check_origin(req: &HttpRequest, state: &Directory) -> Result<(), AppError> {
    match req.headers().get(header::ORIGIN) {
        Some(origin) if !same_origin(origin.to_str().unwrap_or(""), state, req) => {
            Err(AppError::Csrf)
        }
        _ => Ok(()),
    }
}

/// Compares a submitted CSRF token with the session's, in constant time.
pub fn check_csrf_token(req: &HttpRequest, sent: &str) -> Result<(), AppError> {
    let expected = req
        .get_session()
        .get::<String>(SESSION_CSRF)
        .unwrap_or(None)
        .unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) {
        return Err(AppError::Csrf);
    }
    Ok(())
}

/// True when `origin` is the directory's own: its public URL, or the host the browser used
/// (the request's `Host` on the connection's scheme). What a proxy says the browser used
/// (`Forwarded`, `X-Forwarded-Host`, `X-Forwarded-Proto`) counts only with
/// `trust_forwarded_for`, and then only from `trusted_proxies` when those are listed: any
/// client can send those headers.
fn same_origin(origin: &str, state: &Directory, req: &HttpRequest) -> bool {
    if origin == state.public_url {
        return true;
    }
    let config = &state.config;
    let from_proxy = config.trust_forwarded_for
        && (config.trusted_proxies.is_empty()
            || req
                .peer_addr()
                .is_some_and(|peer| config.trusted_proxies.contains(&peer.ip())));
    let used = if from_proxy {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    } else {
        let scheme = if req.app_config().secure() {
            "https"
        } else {
            "http"
        };
        match req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            Some(host) => format!("{scheme}://{host}"),
            None => return false,
        }
    };
    origin == used
}

/// The client's address, as the throttles count it.
pub(crate) fn client_address(state: &crate::services::Directory, req: &HttpRequest) -> String {
    if state.config.trust_forwarded_for {
        req.connection_info()
            .realip_remote_addr()
            .unwrap_or_default()
            .to_owned()
    } else {
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    }
}

//! The server-rendered portal (askama), authenticated with the session cookie. Every action
//! calls the same domain function as its JSON twin; forms carry a CSRF token; errors become a
//! message beside the form or an error page.

mod accounts;
mod charts;
mod keys;
mod operator;
mod organisations;
mod pages;
mod software;
mod subscriptions;

use actix_session::Session;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

use crate::model::Error;
use crate::model::account::User;
use crate::services::mfa;
use crate::web::auth::{self, SessionUser};
use crate::web::error::AppError;

pub use pages::PageCtx;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(accounts::home))
        .route("/static/portal.css", web::get().to(stylesheet))
        .route("/static/webauthn.js", web::get().to(script))
        .configure(accounts::configure)
        .configure(organisations::configure)
        .configure(software::configure)
        .configure(subscriptions::configure)
        .configure(operator::configure);
}

const STYLESHEET: &str = include_str!("../../../templates/portal.css");

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

const SCRIPT: &str = include_str!("../../../templates/webauthn.js");

/// The portal's one script: the passkey ceremonies (served by the directory itself).
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(SCRIPT)
}

/// What a portal handler fails with: a redirect (to log in, mostly) or an error page.
#[derive(Debug)]
pub enum PortalError {
    Redirect(String),
    App(AppError),
    /// A page in place of the handler's (asking for a second factor again).
    Page(StatusCode, String),
}

impl std::fmt::Display for PortalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortalError::Redirect(to) => write!(f, "redirect to {to}"),
            PortalError::App(e) => write!(f, "{e}"),
            PortalError::Page(status, _) => write!(f, "a page ({status})"),
        }
    }
}

impl From<AppError> for PortalError {
    fn from(error: AppError) -> Self {
        PortalError::App(error)
    }
}

impl From<crate::model::Error> for PortalError {
    fn from(error: crate::model::Error) -> Self {
        PortalError::App(error.into())
    }
}

impl ResponseError for PortalError {
    fn status_code(&self) -> StatusCode {
        match self {
            PortalError::Redirect(_) => StatusCode::SEE_OTHER,
            PortalError::Page(status, _) => *status,
            PortalError::App(AppError::Domain(
                Error::Unauthorized(_) | Error::SecondFactorRequired(_),
            )) => StatusCode::SEE_OTHER,
            PortalError::App(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PortalError::Redirect(to) => redirect(to),
            PortalError::Page(status, html) => HttpResponse::build(*status)
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(html.clone()),
            PortalError::App(AppError::Domain(Error::Unauthorized(_))) => redirect("/login"),
            // An organisation that requires a second factor sends its member to enrolment
            // (the account page says which organisations ask for one).
            PortalError::App(AppError::Domain(Error::SecondFactorRequired(_))) => {
                redirect("/account")
            }
            PortalError::App(error) => {
                error.log_if_unexpected();
                error_page(error.status_code(), error.title(), &error.detail())
            }
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> Self {
        AppError::Domain(Error::Unexpected(
            anyhow::Error::new(error).context("rendering a page"),
        ))
    }
}

pub type PortalResult = Result<HttpResponse, PortalError>;

/// A 303 redirect (the answer to every successful form post).
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Renders a page with status 200.
pub fn render(page: &impl Template) -> PortalResult {
    render_with(StatusCode::OK, page)
}

/// Renders a page with a status: a form shown again with its error is a 4xx.
pub fn render_with(status: StatusCode, page: &impl Template) -> PortalResult {
    let html = page.render().map_err(AppError::from)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

/// What an error page says, kept on its response so that [`signed_in_error_pages`] can
/// render it again with the visitor's header.
#[derive(Clone)]
struct ErrorPageText {
    title: String,
    detail: String,
}

/// An error page a handler failed with. It is rendered without the session (a handler's error
/// has no request at hand); [`signed_in_error_pages`] renders it again for a signed-in visitor.
fn error_page(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    let mut response = error_page_for(status, PageCtx::anonymous(), title, detail);
    response.extensions_mut().insert(ErrorPageText {
        title: title.to_owned(),
        detail: detail.to_owned(),
    });
    response
}

/// Middleware of the portal's scope (inside its sessions): an error page a handler failed
/// with (403, 409, ...) keeps a signed-in visitor's header, their links and their log-out, as
/// the not-found page does.
pub async fn signed_in_error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use actix_session::SessionExt;
    let response = next.call(req).await?;
    let Some(text) = response
        .response()
        .extensions()
        .get::<ErrorPageText>()
        .cloned()
    else {
        return Ok(response.map_into_left_body());
    };
    let request = response.request().clone();
    let Ok(SessionUser(Some(user))) =
        SessionUser::from_request(&request, &mut actix_web::dev::Payload::None).await
    else {
        return Ok(response.map_into_left_body());
    };
    let page = error_page_for(
        response.status(),
        ctx(&request.get_session(), Some(&user)),
        &text.title,
        &text.detail,
    );
    Ok(response.into_response(page).map_into_right_body())
}

fn error_page_for(status: StatusCode, ctx: PageCtx, title: &str, detail: &str) -> HttpResponse {
    let page = pages::ErrorPage {
        ctx,
        title: title.to_owned(),
        detail: detail.to_owned(),
    };
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(_) => HttpResponse::build(status).body(detail.to_owned()),
    }
}

/// The 404 page for browsers.
pub fn not_found_page(req: &HttpRequest, user: Option<&User>) -> HttpResponse {
    use actix_session::SessionExt;
    error_page_for(
        StatusCode::NOT_FOUND,
        ctx(&req.get_session(), user),
        "Not found",
        "There is no page at this address.",
    )
}

/// The signed-in user of a portal page; a visitor who is not signed in is sent to the log-in
/// page before the handler runs.
pub struct SignedIn(pub User);

/// What an operator without a second factor may reach while operator_mfa is required: its
/// account page, adding a passkey or an app (and confirming it under these paths), its
/// password.
const ENROLMENT: [&str; 4] = [
    "/account",
    "/account/totp",
    "/account/passkeys",
    "/account/password",
];

/// Whether `path` is one of the [`ENROLMENT`] pages.
fn enrolling(path: &str) -> bool {
    ENROLMENT.contains(&path)
        || path.starts_with("/account/totp/")
        || path.starts_with("/account/passkeys/")
}

impl actix_web::FromRequest for SignedIn {
    type Error = PortalError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, PortalError>>>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let user = SessionUser::from_request(req, payload);
        let state = req
            .app_data::<actix_web::web::Data<crate::services::Directory>>()
            .cloned();
        let enrolling = enrolling(req.path());
        let session = actix_session::SessionExt::get_session(req);
        Box::pin(async move {
            let user = match user.await? {
                SessionUser(Some(user)) => user,
                SessionUser(None) => return Err(PortalError::Redirect("/login".into())),
            };
            // With operator_mfa = required, an operator without a second factor reaches its
            // enrolment only.
            if let Some(state) = state
                && user.is_operator
                && !enrolling
                && state.config.operator_mfa == crate::config::OperatorMfa::Required
                && !mfa::has_second_factor(&state, user.id).await?
            {
                auth::set_flash(
                    &session,
                    "Operators need a second factor: add a passkey or an authenticator app to continue.",
                );
                return Err(PortalError::Redirect("/account".into()));
            }
            Ok(SignedIn(user))
        })
    }
}

/// The fields of a step-up page: the code, or a passkey's answer to its ceremony.
const STEP_UP_FIELDS: [&str; 3] = ["step_up_code", "step_up_ceremony", "step_up_credential"];

/// A sensitive action's form ([`auth::PortalForm`] with one more check): when the account has
/// a second factor and the session last showed it more than `step_up_secs` ago, the portal
/// answers with a page that asks for a code and posts the same fields again with it; the
/// action goes on once the code passes.
pub struct SteppedUp<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for SteppedUp<T> {
    type Error = PortalError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, PortalError>>>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let body = auth::form_body(req, payload);
        let user = SessionUser::from_request(req, &mut actix_web::dev::Payload::None);
        let state = req
            .app_data::<actix_web::web::Data<crate::services::Directory>>()
            .cloned();
        let session = actix_session::SessionExt::get_session(req);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await?;
            let SessionUser(Some(user)) = user.await? else {
                return Err(PortalError::Redirect("/login".into()));
            };
            let state = state.ok_or_else(|| {
                PortalError::App(AppError::Domain(Error::Unexpected(anyhow::anyhow!(
                    "the directory's state is missing"
                ))))
            })?;
            let secret = auth::secret_of(&session);
            if mfa::needs_step_up(&state, secret.clone(), &user).await? {
                let fields: Vec<(String, String)> = serde_html_form::from_bytes(&body)
                    .map_err(|e| AppError::BadRequest(format!("invalid form: {e}")))?;
                let field = |wanted: &str| {
                    fields
                        .iter()
                        .find(|(name, value)| name == wanted && !value.is_empty())
                        .map(|(_, value)| value.clone())
                };
                let proof = match (
                    field("step_up_ceremony"),
                    field("step_up_credential"),
                    field("step_up_code"),
                ) {
                    (Some(ceremony), Some(credential), _) => Some(mfa::Proof::Passkey {
                        ceremony,
                        credential,
                    }),
                    (_, _, Some(code)) => Some(mfa::Proof::Code(code)),
                    _ => None,
                };
                let error = match proof {
                    None => Some(None),
                    Some(proof) => {
                        let throttle = crate::services::accounts::Throttle::of(&state.config);
                        let client = auth::client_address(&state, &req);
                        match mfa::step_up(&state, secret, &user, proof, client, throttle).await {
                            Ok(()) => None,
                            Err(
                                error @ (Error::Unauthorized(_)
                                | Error::TooManyRequests(_)
                                | Error::Validation(_)),
                            ) => Some(Some(error.to_string())),
                            Err(other) => return Err(other.into()),
                        }
                    }
                };
                if let Some(error) = error {
                    let page = pages::StepUpPage {
                        ctx: ctx(&session, Some(&user)),
                        action: req.path().to_owned(),
                        fields: fields
                            .into_iter()
                            .filter(|(name, _)| {
                                name != "csrf_token" && !STEP_UP_FIELDS.contains(&name.as_str())
                            })
                            .collect(),
                        passkey: mfa::begin_check(&state, &user).await?,
                        error,
                    };
                    let html = askama::Template::render(&page).map_err(AppError::from)?;
                    return Err(PortalError::Page(StatusCode::OK, html));
                }
            }
            let form = serde_html_form::from_bytes(&body)
                .map_err(|e| AppError::BadRequest(format!("invalid form: {e}")))?;
            Ok(SteppedUp(form))
        })
    }
}

/// A page's path parameters parsed into their types (ids, kids, serials). One that does not
/// parse names nothing here: the portal's 404 page, before the handler runs.
pub struct PortalPath<T>(pub T);

impl<T: serde::de::DeserializeOwned> actix_web::FromRequest for PortalPath<T> {
    type Error = PortalError;
    type Future = std::future::Ready<Result<Self, PortalError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.match_info()
                .load::<T>()
                .map(PortalPath)
                .map_err(|_| PortalError::App(crate::model::Error::NotFound("page").into())),
        )
    }
}

/// The page context of a signed-in (or anonymous) visitor: user, CSRF token, flash message.
pub fn ctx(session: &Session, user: Option<&User>) -> PageCtx {
    PageCtx {
        email: user.map(|u| u.email.clone()),
        is_operator: user.is_some_and(|u| u.is_operator),
        csrf: auth::csrf_token(session),
        flash: auth::take_flash(session),
        unverified: user.is_some_and(|u| u.email_verified_at.is_none()),
    }
}

/// Splits a textarea into its non-empty lines.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The message of an error that belongs beside a form (validation, conflict, not allowed),
/// or the error itself when it should become an error page.
pub fn form_message(error: impl Into<AppError>) -> Result<String, PortalError> {
    match error.into() {
        AppError::Domain(Error::Validation(m)) | AppError::Domain(Error::Conflict(m)) => Ok(m),
        AppError::Domain(Error::TooManyRequests(m)) => Ok(m),
        other => Err(PortalError::App(other)),
    }
}

//! Sign-up, log-in, log-out, the dashboard and API tokens.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::pages::{
    AccountPage, DashboardPage, LoginPage, MembershipRow, Pager, SignupPage, TokensPage,
};
use super::{PortalPath, PortalResult, SignedIn, ctx, form_message, redirect, render, render_with};
use crate::model::Error;
use crate::model::account::User;
use crate::model::software::SoftwareFilter;
use crate::model::{PageRequest, Status};
use crate::services::accounts::{self, Throttle};
use crate::services::{Directory, organisations, software};
use crate::web::auth::{self, PortalForm, SessionUser};
use crate::web::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/signup", web::get().to(signup_page))
        .route("/signup", web::post().to(signup))
        .route("/logout", web::post().to(logout))
        .route("/dashboard", web::get().to(dashboard))
        .route("/account", web::get().to(account))
        .route(
            "/invitations/{org_id}/{action}",
            web::post().to(answer_invitation),
        )
        .route("/account/password", web::post().to(change_password))
        .route("/tokens", web::get().to(tokens))
        .route("/tokens", web::post().to(create_token))
        .route("/tokens/{token_id}/revoke", web::post().to(revoke_token));
}

pub async fn home(user: SessionUser) -> PortalResult {
    Ok(redirect(if user.0.is_some() {
        "/dashboard"
    } else {
        "/login"
    }))
}

async fn login_page(session: Session, user: SessionUser) -> PortalResult {
    if user.0.is_some() {
        return Ok(redirect("/dashboard"));
    }
    render(&LoginPage {
        ctx: ctx(&session, None),
        email: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn login(
    state: web::Data<Directory>,
    session: Session,
    req: HttpRequest,
    PortalForm(form): PortalForm<LoginForm>,
) -> PortalResult {
    let client = if state.config.trust_forwarded_for {
        req.connection_info()
            .realip_remote_addr()
            .unwrap_or_default()
            .to_owned()
    } else {
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    };
    let throttle = Throttle {
        max_failures: state.config.login_max_failures,
        window: time::Duration::seconds(state.config.login_throttle_window_secs as i64),
    };
    let email = form.email.clone();
    let attempt = accounts::log_in(&state, form.email, form.password, client, throttle).await?;
    if !attempt.delay.is_zero() {
        tokio::time::sleep(attempt.delay).await;
    }
    match attempt.result.map_err(AppError::from) {
        Ok(user) => {
            auth::log_in(&state, &session, &user).await?;
            Ok(redirect("/dashboard"))
        }
        Err(
            AppError::Domain(Error::Unauthorized(message))
            | AppError::Domain(Error::TooManyRequests(message)),
        ) => {
            let status = if message.starts_with("too many") {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            render_with(
                status,
                &LoginPage {
                    ctx: ctx(&session, None),
                    email,
                    error: Some(message),
                },
            )
        }
        Err(other) => Err(other.into()),
    }
}

async fn signup_page(session: Session, user: SessionUser) -> PortalResult {
    if user.0.is_some() {
        return Ok(redirect("/dashboard"));
    }
    render(&SignupPage {
        ctx: ctx(&session, None),
        email: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn signup(
    state: web::Data<Directory>,
    session: Session,
    PortalForm(form): PortalForm<SignupForm>,
) -> PortalResult {
    let email = form.email.clone();
    let result = if form.password != form.password_confirm {
        Err(AppError::Domain(Error::Validation(
            "password: the two passwords differ".into(),
        )))
    } else {
        accounts::create_user(&state, form.email, form.password, false, None)
            .await
            .map_err(AppError::from)
    };
    match result {
        Ok(user) => {
            auth::log_in(&state, &session, &user).await?;
            auth::set_flash(
                &session,
                "Welcome! Apply to onboard your organisation, or ask its admin to add you.",
            );
            Ok(redirect("/dashboard"))
        }
        Err(error) => render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignupPage {
                ctx: ctx(&session, None),
                email,
                error: Some(form_message(error)?),
            },
        ),
    }
}

async fn logout(
    state: web::Data<Directory>,
    session: Session,
    PortalForm(_): PortalForm<serde::de::IgnoredAny>,
) -> PortalResult {
    auth::log_out(&state, &session).await?;
    Ok(redirect("/login"))
}

#[derive(Deserialize)]
#[serde(default)]
struct DashboardQuery {
    page: u32,
}

impl Default for DashboardQuery {
    fn default() -> Self {
        Self { page: 1 }
    }
}

async fn dashboard(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    query: web::Query<DashboardQuery>,
) -> PortalResult {
    let page = PageRequest {
        page: query.page,
        ..PageRequest::default()
    };
    let (invitations, memberships, counts, all) =
        dashboard_data(&state, user.clone(), page).await?;
    let pager = all.as_ref().map(|p| Pager::new(p, "/dashboard", ""));
    render(&DashboardPage {
        ctx: ctx(&session, Some(&user)),
        invitations,
        memberships,
        pending_organisations: counts.0,
        pending_software: counts.1,
        organisations: all.map(|p| p.items).unwrap_or_default(),
        pager,
    })
}

async fn tokens_page(
    state: &web::Data<Directory>,
    session: &Session,
    user: &User,
    created: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> PortalResult {
    let tokens = accounts::list_tokens(state, user.actor()).await?;
    render_with(
        status,
        &TokensPage {
            ctx: ctx(session, Some(user)),
            tokens,
            created,
            error,
        },
    )
}

async fn tokens(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
) -> PortalResult {
    tokens_page(&state, &session, &user, None, None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
}

async fn create_token(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalForm(form): PortalForm<TokenForm>,
) -> PortalResult {
    let result = accounts::create_token(&state, user.actor(), form.name).await;
    match result {
        // Shown on this response only (never stored in the session or a redirect).
        Ok(token) => {
            tokens_page(
                &state,
                &session,
                &user,
                Some(token.secret),
                None,
                StatusCode::CREATED,
            )
            .await
        }
        Err(error) => {
            let message = form_message(error)?;
            tokens_page(
                &state,
                &session,
                &user,
                None,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn revoke_token(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath(id): PortalPath<crate::model::TokenId>,
    PortalForm(_): PortalForm<serde::de::IgnoredAny>,
) -> PortalResult {
    accounts::revoke_token(&state, user.actor(), id).await?;
    auth::set_flash(&session, "Token revoked.");
    Ok(redirect("/tokens"))
}

async fn account(session: Session, SignedIn(user): SignedIn) -> PortalResult {
    render(&AccountPage {
        ctx: ctx(&session, Some(&user)),
        error: None,
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

/// Changes the password: every session of the account ends, and this browser gets a new one.
async fn change_password(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalForm(form): PortalForm<PasswordForm>,
) -> PortalResult {
    let result = if form.new_password != form.new_password_confirm {
        Err(AppError::Domain(Error::Validation(
            "new_password: the two new passwords differ".into(),
        )))
    } else {
        accounts::change_password(
            &state,
            user.actor(),
            form.current_password,
            form.new_password,
        )
        .await
        .map_err(AppError::from)
    };
    match result {
        Ok(()) => {
            auth::log_in(&state, &session, &user).await?;
            auth::set_flash(
                &session,
                "Password changed; every other session of this account has been signed out.",
            );
            Ok(redirect("/account"))
        }
        Err(error) => render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &AccountPage {
                ctx: ctx(&session, Some(&user)),
                error: Some(form_message(error)?),
            },
        ),
    }
}

/// Accepts or declines an invitation from the dashboard.
async fn answer_invitation(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalPath((org, action)): PortalPath<(crate::model::OrgId, String)>,
    PortalForm(_): PortalForm<serde::de::IgnoredAny>,
) -> PortalResult {
    let actor = user.actor();
    let accept = match action.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return Err(AppError::Domain(Error::NotFound("action")).into()),
    };
    organisations::answer_invitation(&state, actor, org, accept).await?;
    if accept {
        auth::set_flash(&session, "Welcome aboard: you are now a member.");
        Ok(redirect(&format!("/organisations/{org}")))
    } else {
        auth::set_flash(&session, "Invitation declined.");
        Ok(redirect("/dashboard"))
    }
}

/// What the dashboard shows: the account's invitations, its organisations with their
/// products, and for operators the counts of what waits and a page of all organisations.
type Dashboard = (
    Vec<crate::model::organisation::Invitation>,
    Vec<MembershipRow>,
    (u64, u64),
    Option<crate::model::Page<crate::model::organisation::Organisation>>,
);

async fn dashboard_data(
    state: &web::Data<Directory>,
    user: User,
    page: PageRequest,
) -> Result<Dashboard, AppError> {
    let actor = user.actor();
    let invitations = organisations::my_invitations(state, actor.clone()).await?;
    let mut rows = Vec::new();
    for organisation in organisations::memberships(state, user.id).await? {
        let products = software::list(
            state,
            actor.clone(),
            Some(organisation.id),
            SoftwareFilter::default(),
            PageRequest::all(),
        )
        .await?;
        rows.push(MembershipRow {
            organisation,
            software: products.items,
        });
    }
    if !actor.is_operator() {
        return Ok((invitations, rows, (0, 0), None));
    }
    let one = PageRequest {
        page: 1,
        per_page: 1,
    };
    let pending_orgs = organisations::list(state, actor.clone(), Some(Status::Pending), one)
        .await?
        .total;
    let pending = SoftwareFilter {
        status: Some(Status::Pending),
        ..SoftwareFilter::default()
    };
    let changes = SoftwareFilter {
        pending_change: true,
        ..SoftwareFilter::default()
    };
    let pending_software = software::list(state, actor.clone(), None, pending, one)
        .await?
        .total
        + software::list(state, actor.clone(), None, changes, one)
            .await?
            .total;
    let all = organisations::list(state, actor, None, page).await?;
    Ok((
        invitations,
        rows,
        (pending_orgs, pending_software),
        Some(all),
    ))
}

//! Sign-up, log-in, log-out, the dashboard and API tokens.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::pages::{
    AccountPage, DashboardPage, LoginPage, MembershipRow, Pager, PasskeyEnrolPage,
    PasswordResetConfirmPage, PasswordResetPage, RecoveryCodesPage, SecondFactorPage, SignupPage,
    TokensPage, TotpEnrolPage, VerifyEmailPage,
};
use super::{
    PortalPath, PortalResult, SignedIn, SteppedUp, ctx, form_message, redirect, render, render_with,
};
use crate::model::Error;
use crate::model::account::User;
use crate::model::organisation::OrganisationFilter;
use crate::model::software::SoftwareFilter;
use crate::model::{PageRequest, Status};
use crate::services::accounts::{self, Throttle};
use crate::services::{Directory, mfa, organisations, password_reset, software, verification};
use crate::web::auth::{self, AwaitingUser, PortalForm, SessionUser, client_address};
use crate::web::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/login/second-factor", web::get().to(second_factor_page))
        .route("/login/second-factor", web::post().to(second_factor))
        .route("/verify-email", web::get().to(verify_page))
        .route("/verify-email", web::post().to(verify))
        .route("/account/verification", web::post().to(resend_verification))
        .route("/account/notifications", web::post().to(set_notifications))
        .route("/password-reset", web::get().to(reset_page))
        .route("/password-reset", web::post().to(request_reset))
        .route("/password-reset/confirm", web::get().to(reset_confirm_page))
        .route("/password-reset/confirm", web::post().to(confirm_reset))
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
        .route("/account/email", web::post().to(change_email))
        .route("/account/totp", web::post().to(start_totp))
        .route("/account/totp/{id}/confirm", web::post().to(confirm_totp))
        .route("/account/passkeys", web::post().to(start_passkey))
        .route(
            "/account/passkeys/{ceremony}/confirm",
            web::post().to(confirm_passkey),
        )
        .route(
            "/account/factors/{id}/remove",
            web::post().to(remove_factor),
        )
        .route("/account/recovery-codes", web::post().to(regenerate_codes))
        .route("/tokens", web::get().to(tokens))
        .route("/tokens", web::post().to(create_token))
        .route("/tokens/{token_id}/revoke", web::post().to(revoke_token));
}

/// Where a signed-in account lands: operators on the overview of the ecosystem, everyone
/// else on their dashboard.
fn landing(user: &User) -> &'static str {
    if user.is_operator {
        "/operator/overview"
    } else {
        "/dashboard"
    }
}

pub async fn home(user: SessionUser) -> PortalResult {
    Ok(redirect(user.0.as_ref().map_or("/login", landing)))
}

async fn login_page(session: Session, user: SessionUser) -> PortalResult {
    if let Some(user) = &user.0 {
        return Ok(redirect(landing(user)));
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
    let client = client_address(&state, &req);
    let throttle = Throttle::of(&state.config);
    let email = form.email.clone();
    let attempt = accounts::log_in(&state, form.email, form.password, client, throttle).await?;
    if !attempt.delay.is_zero() {
        tokio::time::sleep(attempt.delay).await;
    }
    match attempt.result.map_err(AppError::from) {
        Ok(user) => {
            if auth::log_in(&state, &session, &user).await? {
                return Ok(redirect("/login/second-factor"));
            }
            Ok(redirect(landing(&user)))
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

async fn second_factor_page(
    state: web::Data<Directory>,
    session: Session,
    awaiting: AwaitingUser,
) -> PortalResult {
    let Some((user, _)) = awaiting.0 else {
        return Ok(redirect("/login"));
    };
    second_factor_with(&state, &session, &user, StatusCode::OK, None).await
}

/// The log-in's second step (with a new passkey ceremony when the account has a passkey).
async fn second_factor_with(
    state: &std::sync::Arc<Directory>,
    session: &Session,
    user: &User,
    status: StatusCode,
    error: Option<String>,
) -> PortalResult {
    render_with(
        status,
        &SecondFactorPage {
            ctx: ctx(session, None),
            passkey: mfa::begin_check(state, user).await?,
            error,
        },
    )
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
struct SecondFactorForm {
    #[serde(default)]
    code: String,
    /// A passkey's answer (JSON) to the ceremony `ceremony`.
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
}

/// The second step of a log-in: a passkey, a code of the account's app, or a recovery code.
async fn second_factor(
    state: web::Data<Directory>,
    session: Session,
    req: HttpRequest,
    awaiting: AwaitingUser,
    PortalForm(form): PortalForm<SecondFactorForm>,
) -> PortalResult {
    let Some((user, secret)) = awaiting.0 else {
        return Ok(redirect("/login"));
    };
    let throttle = Throttle::of(&state.config);
    let client = client_address(&state, &req);
    let proof = if form.credential.is_empty() {
        mfa::Proof::Code(form.code)
    } else {
        mfa::Proof::Passkey {
            ceremony: form.ceremony,
            credential: form.credential,
        }
    };
    match mfa::pass(&state, secret, &user, proof, client, throttle).await {
        Ok(()) => Ok(redirect(landing(&user))),
        Err(
            error @ (Error::Unauthorized(_) | Error::TooManyRequests(_) | Error::Validation(_)),
        ) => {
            let status = match error {
                Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
                Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::UNAUTHORIZED,
            };
            second_factor_with(&state, &session, &user, status, Some(error.to_string())).await
        }
        Err(other) => Err(AppError::from(other).into()),
    }
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

/// Starts enrolling an authenticator app: its QR code and secret, and a form for its first
/// code.
async fn start_totp(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    SteppedUp(form): SteppedUp<NameForm>,
) -> PortalResult {
    match mfa::start_totp(&state, &user, form.name).await {
        Ok(enrolment) => render(&TotpEnrolPage {
            ctx: ctx(&session, Some(&user)),
            enrolment,
            error: None,
        }),
        Err(error @ Error::Validation(_)) => {
            account_page_with(
                &state,
                &session,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(error.to_string()),
            )
            .await
        }
        Err(other) => Err(AppError::from(other).into()),
    }
}

/// The first code confirms the enrolment; the first factor comes with recovery codes, shown
/// once.
async fn confirm_totp(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    path: web::Path<String>,
    PortalForm(form): PortalForm<CodeForm>,
) -> PortalResult {
    let secret = auth::secret_of(&session);
    let added = mfa::confirm_totp(&state, &user, secret, path.into_inner(), form.code).await;
    enrolled(&state, &session, &user, added, "Authenticator app added.").await
}

/// What follows adding a factor: the recovery codes (shown once) when it is the first, or
/// the account page with `message`; a refused confirmation back on the account page.
async fn enrolled(
    state: &std::sync::Arc<Directory>,
    session: &Session,
    user: &User,
    added: Result<Option<Vec<String>>, Error>,
    message: &str,
) -> PortalResult {
    match added {
        Ok(Some(codes)) => render(&RecoveryCodesPage {
            ctx: ctx(session, Some(user)),
            codes,
        }),
        Ok(None) => {
            auth::set_flash(session, message);
            Ok(redirect("/account"))
        }
        Err(error @ (Error::Validation(_) | Error::Conflict(_))) => {
            account_page_with(
                state,
                session,
                user,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(format!("{error}; start again")),
            )
            .await
        }
        Err(other) => Err(AppError::from(other).into()),
    }
}

/// Starts adding a passkey: the page whose button asks the browser's authenticator.
async fn start_passkey(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    SteppedUp(form): SteppedUp<NameForm>,
) -> PortalResult {
    let name = form.name.trim().to_owned();
    match mfa::start_passkey(&state, &user, form.name).await {
        Ok(ceremony) => render(&PasskeyEnrolPage {
            ctx: ctx(&session, Some(&user)),
            name,
            ceremony,
        }),
        Err(error @ (Error::Validation(_) | Error::Conflict(_))) => {
            account_page_with(
                &state,
                &session,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(error.to_string()),
            )
            .await
        }
        Err(other) => Err(AppError::from(other).into()),
    }
}

#[derive(Deserialize)]
struct CredentialForm {
    #[serde(default)]
    credential: String,
}

/// The authenticator's answer adds the passkey; the first factor comes with recovery codes,
/// shown once.
async fn confirm_passkey(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    path: web::Path<String>,
    PortalForm(form): PortalForm<CredentialForm>,
) -> PortalResult {
    let secret = auth::secret_of(&session);
    let added =
        mfa::confirm_passkey(&state, &user, secret, path.into_inner(), form.credential).await;
    enrolled(&state, &session, &user, added, "Passkey added.").await
}

async fn remove_factor(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    path: web::Path<String>,
    SteppedUp(_): SteppedUp<serde::de::IgnoredAny>,
) -> PortalResult {
    mfa::remove(&state, &user, path.into_inner())
        .await
        .map_err(AppError::from)?;
    auth::set_flash(&session, "Second factor removed.");
    Ok(redirect("/account"))
}

async fn regenerate_codes(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    SteppedUp(_): SteppedUp<serde::de::IgnoredAny>,
) -> PortalResult {
    match mfa::regenerate_codes(&state, &user).await {
        Ok(codes) => render(&RecoveryCodesPage {
            ctx: ctx(&session, Some(&user)),
            codes,
        }),
        Err(error @ Error::Conflict(_)) => {
            account_page_with(
                &state,
                &session,
                &user,
                StatusCode::CONFLICT,
                Some(error.to_string()),
            )
            .await
        }
        Err(other) => Err(AppError::from(other).into()),
    }
}

/// The mailed verification link's page: a button verifies (a link opened by a mail scanner
/// verifies nothing).
async fn verify_page(session: Session, query: web::Query<TokenQuery>) -> PortalResult {
    render(&VerifyEmailPage {
        ctx: ctx(&session, None),
        token: query.into_inner().token,
        error: None,
    })
}

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(default)]
    token: String,
}

async fn verify(
    state: web::Data<Directory>,
    session: Session,
    user: SessionUser,
    PortalForm(form): PortalForm<VerifyForm>,
) -> PortalResult {
    match verification::confirm(&state, form.token.clone()).await {
        Ok(email) => {
            auth::set_flash(&session, format!("{email} is verified."));
            Ok(redirect(user.0.as_ref().map_or("/login", landing)))
        }
        Err(error @ (Error::Validation(_) | Error::Conflict(_))) => render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &VerifyEmailPage {
                ctx: ctx(&session, user.0.as_ref()),
                token: form.token,
                error: Some(error.to_string()),
            },
        ),
        Err(other) => Err(AppError::from(other).into()),
    }
}

#[derive(Deserialize)]
struct NotificationsForm {
    notifications: bool,
}

/// Turns the notices that are not about the account's security on or off.
async fn set_notifications(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalForm(form): PortalForm<NotificationsForm>,
) -> PortalResult {
    accounts::set_notifications(&state, user.actor(), form.notifications).await?;
    auth::set_flash(
        &session,
        if form.notifications {
            "You will get mail about decisions on your organisations."
        } else {
            "No more mail about decisions on your organisations; security notices still come."
        },
    );
    Ok(redirect("/account"))
}

/// Mails the verification link again.
async fn resend_verification(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    PortalForm(_): PortalForm<serde::de::IgnoredAny>,
) -> PortalResult {
    let message = match verification::resend(&state, &user).await {
        Ok(()) => format!("A new link is on its way to {}.", user.email),
        Err(error @ (Error::TooManyRequests(_) | Error::Conflict(_))) => error.to_string(),
        Err(other) => return Err(AppError::from(other).into()),
    };
    auth::set_flash(&session, message);
    Ok(redirect("/account"))
}

async fn reset_page(session: Session) -> PortalResult {
    render(&PasswordResetPage {
        ctx: ctx(&session, None),
        message: None,
        error: None,
    })
}

#[derive(Deserialize)]
struct ResetRequestForm {
    #[serde(default)]
    email: String,
}

/// Mails a reset link when the address has an account; the page says the same either way.
async fn request_reset(
    state: web::Data<Directory>,
    session: Session,
    req: HttpRequest,
    PortalForm(form): PortalForm<ResetRequestForm>,
) -> PortalResult {
    let (throttle, client) = (Throttle::of(&state.config), client_address(&state, &req));
    match password_reset::request(&state, form.email, client, throttle).await {
        Ok(()) => render(&PasswordResetPage {
            ctx: ctx(&session, None),
            message: Some(password_reset::REQUESTED.into()),
            error: None,
        }),
        Err(error @ Error::TooManyRequests(_)) => render_with(
            StatusCode::TOO_MANY_REQUESTS,
            &PasswordResetPage {
                ctx: ctx(&session, None),
                message: None,
                error: Some(error.to_string()),
            },
        ),
        Err(other) => Err(AppError::from(other).into()),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The mailed link's page: a new password, twice. Opening it uses nothing; setting does.
async fn reset_confirm_page(session: Session, query: web::Query<TokenQuery>) -> PortalResult {
    render(&PasswordResetConfirmPage {
        ctx: ctx(&session, None),
        token: query.into_inner().token,
        error: None,
    })
}

#[derive(Deserialize)]
struct ResetConfirmForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

async fn confirm_reset(
    state: web::Data<Directory>,
    session: Session,
    PortalForm(form): PortalForm<ResetConfirmForm>,
) -> PortalResult {
    let result = if form.new_password != form.new_password_confirm {
        Err(Error::Validation(
            "new_password_confirm: the two passwords differ".into(),
        ))
    } else {
        password_reset::confirm(&state, form.token.clone(), form.new_password).await
    };
    match result {
        Ok(()) => {
            auth::set_flash(&session, "Your new password is set: log in with it.");
            Ok(redirect("/login"))
        }
        Err(error @ (Error::Validation(_) | Error::Conflict(_))) => render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordResetConfirmPage {
                ctx: ctx(&session, None),
                token: form.token,
                error: Some(error.to_string()),
            },
        ),
        Err(other) => Err(AppError::from(other).into()),
    }
}

#[derive(Deserialize)]
struct SignupQuery {
    /// The invited address (an invitation's mailed link).
    #[serde(default)]
    email: String,
}

async fn signup_page(
    session: Session,
    user: SessionUser,
    query: web::Query<SignupQuery>,
) -> PortalResult {
    if let Some(user) = &user.0 {
        return Ok(redirect(landing(user)));
    }
    render(&SignupPage {
        ctx: ctx(&session, None),
        email: query.into_inner().email,
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
                "Welcome! We mailed you a link to verify your address; then apply to onboard your organisation, or ask its admin to add you.",
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
    SteppedUp(form): SteppedUp<TokenForm>,
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

async fn account(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
) -> PortalResult {
    account_page_with(&state, &session, &user, StatusCode::OK, None).await
}

/// The account page (password, second factors) with `status` and a message by the forms.
/// The account page again, with the refusal of one of its forms (422), or the error page.
async fn account_refused(
    state: &std::sync::Arc<Directory>,
    session: &Session,
    user: &User,
    error: impl Into<AppError>,
) -> PortalResult {
    let message = form_message(error)?;
    account_page_with(
        state,
        session,
        user,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(message),
    )
    .await
}

async fn account_page_with(
    state: &std::sync::Arc<Directory>,
    session: &Session,
    user: &User,
    status: StatusCode,
    error: Option<String>,
) -> PortalResult {
    let factors = mfa::factors(state, user).await.map_err(AppError::from)?;
    render_with(
        status,
        &AccountPage {
            ctx: ctx(session, Some(user)),
            notifications: user.notifications,
            factors,
            error,
        },
    )
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
    SteppedUp(form): SteppedUp<PasswordForm>,
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
            auth::restart(&state, &session, &user).await?;
            auth::set_flash(
                &session,
                "Password changed; every other session of this account has been signed out.",
            );
            Ok(redirect("/account"))
        }
        Err(error) => account_refused(&state, &session, &user, error).await,
    }
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    current_password: String,
}

/// Mails a link to a new address; the address changes when it is opened.
async fn change_email(
    state: web::Data<Directory>,
    session: Session,
    SignedIn(user): SignedIn,
    SteppedUp(form): SteppedUp<EmailForm>,
) -> PortalResult {
    match verification::request_change(&state, &user, form.email, form.current_password).await {
        Ok(email) => {
            auth::set_flash(
                &session,
                format!(
                    "A link is on its way to {email}; the account's address changes when you open it."
                ),
            );
            Ok(redirect("/account"))
        }
        Err(error) => account_refused(&state, &session, &user, error).await,
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
        let products = match software::list(
            state,
            actor.clone(),
            Some(organisation.id),
            SoftwareFilter::default(),
            PageRequest::all(),
        )
        .await
        {
            Ok(products) => products.items,
            // Listed, its products not shown, until the account has a second factor.
            Err(Error::SecondFactorRequired(_)) => vec![],
            Err(other) => return Err(other.into()),
        };
        rows.push(MembershipRow {
            organisation,
            software: products,
        });
    }
    if !actor.is_operator() {
        return Ok((invitations, rows, (0, 0), None));
    }
    let one = PageRequest {
        page: 1,
        per_page: 1,
    };
    let pending_orgs = organisations::list(
        state,
        actor.clone(),
        OrganisationFilter::status(Some(Status::Pending)),
        one,
    )
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
    let all = organisations::list(state, actor, OrganisationFilter::default(), page).await?;
    Ok((
        invitations,
        rows,
        (pending_orgs, pending_software),
        Some(all),
    ))
}

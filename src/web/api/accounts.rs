//! The caller's account and tokens; operators' accounts list and the audit log.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Items, created, default_per_page, first_page};
use crate::model::account::{Account, ApiToken, Me, NewToken};
use crate::model::audit::{AuditEvent, AuditFilter};
use crate::model::{Page, PageRequest, TokenId, UserId};
use crate::services::{self, Directory, accounts};
use crate::web::auth::ApiUser;
use crate::web::error::AppError;

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", operation_id = "me",
    responses((status = 200, description = "The token's account.", body = Me)))]
pub(super) async fn me(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
) -> Result<HttpResponse, AppError> {
    let user = accounts::me(&state, actor).await?;
    Ok(HttpResponse::Ok().json(Me::from(user)))
}

/// The caller's preferences.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeUpdate {
    /// Whether to get the notices that are not about the account's security.
    notifications: Option<bool>,
}

/// Change the caller's preferences
///
/// `notifications: false` stops the mail about decisions on the account's organisations;
/// security notices (password, second factors, tokens) always come. Audited.
#[utoipa::path(patch, path = "/api/v1/me", tag = "account", operation_id = "updateMe",
    request_body = MeUpdate,
    responses((status = 200, description = "The account with its preferences.", body = Me)))]
pub(super) async fn update_me(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    body: web::Json<MeUpdate>,
) -> Result<HttpResponse, AppError> {
    let user = match body.into_inner().notifications {
        Some(on) => accounts::set_notifications(&state, actor, on).await?,
        None => accounts::me(&state, actor).await?,
    };
    Ok(HttpResponse::Ok().json(Me::from(user)))
}

/// A request for a password reset link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    #[schema(max_length = 254)]
    email: String,
}

/// What a reset request answers, whatever the address.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ResetRequested {
    detail: &'static str,
}

/// Ask for a password reset link
///
/// Mails a single-use link (valid 30 minutes) to the address when it has an account; the
/// answer is the same either way. Throttled per client address (429) and per account.
#[utoipa::path(post, path = "/api/v1/password-reset", tag = "account", operation_id = "requestPasswordReset",
    security(()),
    request_body = ResetRequest,
    responses(
        (status = 202, description = "Requested, whether or not the address has an account.", body = ResetRequested),
        (status = 429, description = "Too many requests from this address.", body = crate::web::error::Problem, content_type = "application/problem+json")))]
pub(super) async fn request_password_reset(
    state: web::Data<Directory>,
    req: actix_web::HttpRequest,
    body: web::Json<ResetRequest>,
) -> Result<HttpResponse, AppError> {
    let throttle = crate::services::accounts::Throttle::of(&state.config);
    let client = crate::web::auth::client_address(&state, &req);
    crate::services::password_reset::request(&state, body.into_inner().email, client, throttle)
        .await?;
    Ok(HttpResponse::Accepted().json(ResetRequested {
        detail: crate::services::password_reset::REQUESTED,
    }))
}

/// A new password with a reset link's token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetConfirm {
    /// The `token` of the mailed link.
    #[schema(max_length = 64)]
    token: String,
    #[schema(min_length = 10, max_length = 256)]
    new_password: String,
}

/// Set a new password with a reset link
///
/// Works once per link, within its 30 minutes; every session of the account ends, and a
/// notice is mailed. An unknown, expired or used token answers 409 and changes nothing.
#[utoipa::path(post, path = "/api/v1/password-reset/confirm", tag = "account", operation_id = "confirmPasswordReset",
    security(()),
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "The password is set; every session of the account ended."),
        (status = 409, description = "The link's token is unknown, expired or used.", body = crate::web::error::Problem, content_type = "application/problem+json")))]
pub(super) async fn confirm_password_reset(
    state: web::Data<Directory>,
    body: web::Json<ResetConfirm>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    crate::services::password_reset::confirm(&state, body.token, body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    #[schema(min_length = 10, max_length = 256)]
    new_password: String,
}

/// Change the caller's password
///
/// Checks the current password; every portal session of the account ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account", operation_id = "changePassword",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed.")))]
pub(super) async fn change_password(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    accounts::change_password(&state, actor, body.current_password, body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Filters of the accounts list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserQuery {
    /// Only addresses containing this.
    email: Option<String>,
    /// 1-based page number; 0 is refused with 422.
    #[serde(default = "first_page")]
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    page: u32,
    /// Page size, between 1 and 100; other values are refused with 422.
    #[serde(default = "default_per_page")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: u32,
}

/// List accounts
///
/// Operators only, by email.
#[utoipa::path(get, path = "/api/v1/users", tag = "account", operation_id = "listUsers",
    params(UserQuery),
    responses((status = 200, description = "One page of accounts.", body = Page<Account>),
        (status = 403, description = "Not an operator.", body = crate::web::error::Problem, content_type = "application/problem+json")))]
pub(super) async fn list_users(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let list = accounts::list_accounts(&state, actor, query.email, page).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Disable or enable an account
///
/// Operators only, never their own account (409). A disabled account cannot log in, its
/// portal sessions end at once and its API tokens answer 401 until it is enabled again.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/{action}", tag = "account", operation_id = "setUserDisabled",
    params(("user_id" = UserId, Path, description = "The account."),
        ("action" = String, Path, description = "`disable` or `enable`.", pattern = "^(disable|enable)$")),
    responses((status = 200, description = "The account.", body = Account),
        (status = 403, description = "Not an operator.", body = crate::web::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already in that state, or one's own account.", body = crate::web::error::Problem, content_type = "application/problem+json")))]
pub(super) async fn set_user_disabled(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(UserId, String)>,
) -> Result<HttpResponse, AppError> {
    let (user, action) = path.into_inner();
    let disabled = action == "disable";
    let account = accounts::set_disabled(&state, actor, user, disabled).await?;
    Ok(HttpResponse::Ok().json(account))
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only this action, such as `organisation.approve`.
    #[param(pattern = "^[a-z_.-]{1,64}$")]
    action: Option<String>,
    /// Only this actor (an email, `cli` or `system`).
    #[param(pattern = "^[^\\x00-\\x1f\\x7f]{1,254}$")]
    actor: Option<String>,
    /// Only events about this subject: a UUID, a certificate serial or a key id.
    #[param(pattern = "^[^\\x00-\\x1f\\x7f]{1,128}$")]
    subject_id: Option<String>,
    /// Only events of this organisation (its own, its software's and members').
    #[param(value_type = Option<uuid::Uuid>)]
    organisation_id: Option<String>,
    /// `csv`: every event of the filter as CSV (also with `Accept: text/csv`), streamed;
    /// `page` and `per_page` are then ignored.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
    /// Continue where the page before ended: its `next` (a keyset page, as cheap as the first
    /// however deep; `page` is then ignored).
    #[param(pattern = "^[0-9]{1,18}$")]
    after: Option<String>,
    /// 1-based page number; 0 is refused with 422.
    #[serde(default = "first_page")]
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    page: u32,
    /// Page size, between 1 and 100; other values are refused with 422.
    #[serde(default = "default_per_page")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: u32,
}

/// The audit log
///
/// Operators only; newest first. With `format=csv` (or `Accept: text/csv`), every event of
/// the filter as CSV, streamed a page at a time.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "auditLog",
    params(AuditQuery),
    responses((status = 200, description = "One page of audit events, or all of them as CSV.",
            content((Page<AuditEvent> = "application/json"), (String = "text/csv"))),
        (status = 403, description = "Not an operator.", body = crate::web::error::Problem, content_type = "application/problem+json")))]
pub(super) async fn audit_log(
    req: actix_web::HttpRequest,
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = AuditFilter {
        action: query.action,
        actor: query.actor,
        subject_id: query.subject_id,
        organisation_id: query.organisation_id,
    };
    if super::wants_csv(&req, query.format.as_deref())? {
        let stream = services::audit::export(state.into_inner(), actor, filter)?;
        return Ok(super::csv_response("audit.csv", stream));
    }
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let events = match query.after.as_deref() {
        Some(after) => {
            services::audit::list_after(&state, actor, filter, after, page.limit()).await?
        }
        None => services::audit::list(&state, actor, filter, page)
            .await?
            .continued(|event| event.id.to_string()),
    };
    Ok(HttpResponse::Ok().json(events))
}

/// List the caller's API tokens
///
/// Each account sees only its own tokens, revoked ones included; newest first. Secrets are
/// never shown again.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account", operation_id = "listTokens",
    responses((status = 200, description = "The caller's tokens.", body = Items<ApiToken>)))]
pub(super) async fn list_tokens(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
) -> Result<HttpResponse, AppError> {
    let tokens = accounts::list_tokens(&state, actor).await?;
    Ok(HttpResponse::Ok().json(Items::of(tokens)))
}

/// A new token's name.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTokenBody {
    /// What the token is for (printable text).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
}

/// Create an API token
///
/// The token belongs to the caller; the response carries the secret, shown only this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", operation_id = "createToken",
    request_body = NewTokenBody,
    responses((status = 201, description = "The token with its secret.", body = NewToken,
        headers(("Location" = String, description = "The token's URL.")))))]
pub(super) async fn create_token(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    body: web::Json<NewTokenBody>,
) -> Result<HttpResponse, AppError> {
    let token = accounts::create_token(&state, actor, body.into_inner().name).await?;
    Ok(created(
        format!("/api/v1/tokens/{}", token.token.id),
        &token,
    ))
}

/// Revoke an API token
///
/// The caller's own tokens only: other accounts' token ids answer 404. 409 when the token is
/// already revoked.
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "account", operation_id = "revokeToken",
    params(("token_id" = TokenId, Path, description = "The token.")),
    responses((status = 204, description = "Revoked."),
        (status = 409, description = "Already revoked.", body = crate::web::error::Problem, content_type = "application/problem+json")))]
pub(super) async fn revoke_token(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<TokenId>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    accounts::revoke_token(&state, actor, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

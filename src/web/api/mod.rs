//! The JSON API under `/api/v1`, authenticated with bearer tokens; errors are problem+json.
//! Each handler extracts, calls the domain (which authorizes) and renders.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::db;
use crate::directory::audit::{self, AuditFilter};
use crate::directory::keystore::{self, Owner};
use crate::directory::organisations::{self, AuthorizationServer, MemberChange};
use crate::directory::software::{self, Changes, Registration};
use crate::directory::{PageRequest, Status, Transition, users};
use crate::error::{self, AppError};
use crate::pki;
use crate::ssa;
use crate::web::auth::{ApiUser, BearerToken};

/// The OpenAPI 3.1 document of this API, kept beside the code and checked by the tests.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// The decisions on organisations and software, as the last path segment.
const TRANSITIONS: &str = "{action:approve|reject|suspend|reinstate|revoke}";

/// One resource per path, so that a known path asked with another method answers 405 with
/// `Allow` (separate single-route resources would fall through to 404). Specific paths come
/// before the decision paths that share their shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post, put, resource};
    cfg.service(resource("/api/openapi.json").route(get().to(openapi)))
        .service(
            web::scope("/api/v1")
                .service(resource("/me").route(get().to(me)))
                .service(resource("/me/password").route(post().to(change_password)))
                .service(resource("/users").route(get().to(list_users)))
                .service(resource("/invitations").route(get().to(my_invitations)))
                .service(
                    resource("/invitations/{org_id}/{action:accept|decline}")
                        .route(post().to(answer_invitation)),
                )
                .service(
                    resource("/users/{user_id}/{action:disable|enable}")
                        .route(post().to(set_user_disabled)),
                )
                .service(
                    resource("/organisations")
                        .route(post().to(apply))
                        .route(get().to(list_organisations)),
                )
                .service(resource("/organisations/{org_id}").route(get().to(get_organisation)))
                .service(
                    resource("/organisations/{org_id}/members")
                        .route(get().to(members))
                        .route(post().to(add_member)),
                )
                .service(
                    resource("/organisations/{org_id}/members/{user_id}")
                        .route(delete().to(remove_member)),
                )
                .service(
                    resource("/organisations/{org_id}/authorization-servers")
                        .route(put().to(set_authorization_servers)),
                )
                .service(
                    resource("/organisations/{org_id}/software")
                        .route(post().to(register_software))
                        .route(get().to(list_software)),
                )
                .service(
                    resource("/organisations/{org_id}/keys")
                        .route(get().to(list_org_keys))
                        .route(post().to(upload_org_key)),
                )
                .service(
                    resource("/organisations/{org_id}/keys/{kid}")
                        .route(delete().to(remove_org_key)),
                )
                .service(
                    resource(format!("/organisations/{{org_id}}/{TRANSITIONS}"))
                        .route(post().to(transition_organisation)),
                )
                .service(resource("/software").route(get().to(list_all_software)))
                .service(
                    resource("/software/{software_id}")
                        .route(get().to(get_software))
                        .route(patch().to(update_software)),
                )
                .service(resource("/software/{software_id}/ssa").route(post().to(issue_ssa)))
                .service(
                    resource("/software/{software_id}/changes").route(delete().to(withdraw_change)),
                )
                .service(
                    resource("/software/{software_id}/changes/{action:approve|reject}")
                        .route(post().to(decide_change)),
                )
                .service(
                    resource("/software/{software_id}/keys")
                        .route(get().to(list_software_keys))
                        .route(post().to(upload_software_key)),
                )
                .service(
                    resource("/software/{software_id}/keys/{kid}")
                        .route(delete().to(remove_software_key)),
                )
                .service(
                    resource("/software/{software_id}/certificates")
                        .route(post().to(issue_certificate))
                        .route(get().to(list_certificates)),
                )
                .service(
                    resource(format!("/software/{{software_id}}/{TRANSITIONS}"))
                        .route(post().to(transition_software)),
                )
                .service(resource("/certificates/{serial}").route(get().to(get_certificate)))
                .service(
                    resource("/certificates/{serial}/revoke").route(post().to(revoke_certificate)),
                )
                .service(resource("/audit").route(get().to(audit_log)))
                .service(
                    resource("/tokens")
                        .route(get().to(list_tokens))
                        .route(post().to(create_token)),
                )
                .service(resource("/tokens/{token_id}").route(delete().to(revoke_token))),
        );
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(OPENAPI)
}

/// An optional JSON body: empty means `None`, anything else must be valid JSON within the
/// body limit.
struct OptionalJson<T>(Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = req
            .app_data::<web::Data<AppState>>()
            .map(|s| error::BodyLimits::from(&s.config));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|e| match limits {
                Some(limits) => error::body_error(&e, limits),
                None => AppError::Unexpected(anyhow::anyhow!("application state missing")),
            })?;
            optional_json(&body).map(OptionalJson)
        })
    }
}

fn optional_json<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                AppError::Validation(format!("invalid request: {e}"))
            }
            _ => AppError::BadRequest(format!("malformed JSON: {e}")),
        })
}

fn transition_of(action: &str) -> Result<Transition, AppError> {
    Transition::parse(action).ok_or(AppError::NotFound("action"))
}

fn created(location: String, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body)
}

async fn me(ApiUser(actor): ApiUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "user_id": actor.user_id,
        "email": actor.email,
        "operator": actor.is_operator,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password; every portal session of the account ends.
async fn change_password(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    db::run(&state.pool, move |conn| {
        users::change_password(conn, &actor, &body.current_password, &body.new_password)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserQuery {
    email: Option<String>,
    #[serde(default = "first_page")]
    page: u32,
    #[serde(default = "default_per_page")]
    per_page: u32,
}

async fn list_users(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let accounts = db::run(&state.pool, move |conn| {
        users::list_accounts(conn, &actor, query.email.as_deref(), page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(accounts))
}

/// An operator disables an account (its sessions end, its tokens stop) or enables it again.
async fn set_user_disabled(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (user_id, action) = path.into_inner();
    let disabled = action == "disable";
    let account = db::run(&state.pool, move |conn| {
        users::set_disabled(conn, &actor, &user_id, disabled)
    })
    .await?;
    Ok(HttpResponse::Ok().json(account))
}

async fn apply(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    body: web::Json<organisations::Application>,
) -> Result<HttpResponse, AppError> {
    let org = db::run(&state.pool, move |conn| {
        organisations::apply(conn, &actor, &body)
    })
    .await?;
    Ok(created(format!("/api/v1/organisations/{}", org.id), &org))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationQuery {
    status: Option<String>,
    #[serde(default = "first_page")]
    page: u32,
    #[serde(default = "default_per_page")]
    per_page: u32,
}

fn first_page() -> u32 {
    PageRequest::default().page
}

fn default_per_page() -> u32 {
    PageRequest::default().per_page
}

async fn list_organisations(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    query: web::Query<OrganisationQuery>,
) -> Result<HttpResponse, AppError> {
    let status = status_filter(query.status.as_deref())?;
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let orgs = db::run(&state.pool, move |conn| {
        organisations::list(conn, &actor, status, page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(orgs))
}

async fn get_organisation(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (org, _) = db::run(&state.pool, move |conn| {
        organisations::get(conn, &actor, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(org))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: Option<String>,
}

async fn transition_organisation(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let transition = transition_of(&action)?;
    let body = body.unwrap_or_default();
    let shared = state.clone();
    let org = db::run(&state.pool, move |conn| {
        let org = organisations::transition(conn, &actor, &id, transition, body.reason.as_deref())?;
        shared.certificates_changed(conn)?;
        Ok(org)
    })
    .await?;
    Ok(HttpResponse::Ok().json(org))
}

async fn members(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (members, invitations) = db::run(&state.pool, move |conn| {
        let members = organisations::members(conn, &actor, &id)?;
        let invitations = organisations::invitations(conn, &actor, &id)?;
        Ok((members, invitations))
    })
    .await?;
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "items": members, "invitations": invitations })),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    email: String,
    role: String,
}

/// Invites an account (201, an invitation) or changes a member's role (200, the member).
async fn add_member(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<NewMember>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let org_id = id.clone();
    let change = db::run(&state.pool, move |conn| {
        organisations::add_member(conn, &actor, &id, &body.email, &body.role)
    })
    .await?;
    Ok(match change {
        MemberChange::Invited(invitation) => created(
            format!(
                "/api/v1/organisations/{org_id}/members/{}",
                invitation.user_id
            ),
            &invitation,
        ),
        MemberChange::RoleChanged(member) => HttpResponse::Ok().json(member),
    })
}

/// The caller's pending invitations.
async fn my_invitations(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
) -> Result<HttpResponse, AppError> {
    let items = db::run(&state.pool, move |conn| {
        organisations::my_invitations(conn, &actor)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// The invited account accepts (200, the membership) or declines (204).
async fn answer_invitation(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (org_id, action) = path.into_inner();
    let accept = action == "accept";
    let member = db::run(&state.pool, move |conn| {
        organisations::answer_invitation(conn, &actor, &org_id, accept)
    })
    .await?;
    Ok(match member {
        Some(member) => HttpResponse::Ok().json(member),
        None => HttpResponse::NoContent().finish(),
    })
}

async fn remove_member(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = path.into_inner();
    db::run(&state.pool, move |conn| {
        organisations::remove_member(conn, &actor, &id, &user_id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizationServers {
    authorization_servers: Vec<AuthorizationServer>,
}

async fn set_authorization_servers(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<AuthorizationServers>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let org = db::run(&state.pool, move |conn| {
        organisations::set_authorization_servers(conn, &actor, &id, &body.authorization_servers)
    })
    .await?;
    Ok(HttpResponse::Ok().json(org))
}

async fn register_software(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<Registration>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let auto_approve = state.config.auto_approve_sandbox;
    let product = db::run(&state.pool, move |conn| {
        software::register(conn, &actor, &id, &body, auto_approve)
    })
    .await?;
    Ok(created(
        format!("/api/v1/software/{}", product.id),
        &product,
    ))
}

async fn list_software(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    page: web::Query<PageRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let page = page.into_inner().checked()?;
    let list = db::run(&state.pool, move |conn| {
        software::list_for_organisation(conn, &actor, &id, page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SoftwareQuery {
    status: Option<String>,
    #[serde(default)]
    pending_change: bool,
    #[serde(default = "first_page")]
    page: u32,
    #[serde(default = "default_per_page")]
    per_page: u32,
}

/// Products the caller may see: all for operators, their organisations' for members;
/// `?status=pending` is the operators' queue, `?pending_change=true` the changes waiting for
/// a decision.
async fn list_all_software(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    query: web::Query<SoftwareQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = software::SoftwareFilter {
        status: status_filter(query.status.as_deref())?,
        pending_change: query.pending_change,
    };
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let list = db::run(&state.pool, move |conn| {
        software::list(conn, &actor, filter, page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// A `status` query parameter: empty or absent means any.
fn status_filter(status: Option<&str>) -> Result<Option<Status>, AppError> {
    match status {
        None | Some("") => Ok(None),
        Some(s) => Status::parse(s).map(Some).ok_or_else(|| {
            AppError::Validation(format!(
                "status: {s:?} is not one of pending, active, rejected, suspended, revoked"
            ))
        }),
    }
}

async fn get_software(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (product, _, _) =
        db::run(&state.pool, move |conn| software::get(conn, &actor, &id)).await?;
    Ok(HttpResponse::Ok().json(product))
}

async fn update_software(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<Changes>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let edited = db::run(&state.pool, move |conn| {
        software::update(conn, &actor, &id, &body)
    })
    .await?;
    // 202: part of the edit waits for an operator's decision (the product's pending_change).
    let mut response = if edited.held {
        HttpResponse::Accepted()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(edited.product))
}

/// An operator approves or rejects a product's pending change.
async fn decide_change(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let decision = if action == "approve" {
        software::ChangeDecision::Approve
    } else {
        software::ChangeDecision::Reject
    };
    let reason = body.unwrap_or_default().reason;
    let product = db::run(&state.pool, move |conn| {
        software::decide_change(conn, &actor, &id, decision, reason.as_deref())
    })
    .await?;
    Ok(HttpResponse::Ok().json(product))
}

/// A member withdraws the product's pending change.
async fn withdraw_change(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let product = db::run(&state.pool, move |conn| {
        software::decide_change(conn, &actor, &id, software::ChangeDecision::Withdraw, None)
    })
    .await?;
    Ok(HttpResponse::Ok().json(product))
}

async fn transition_software(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let transition = transition_of(&action)?;
    let body = body.unwrap_or_default();
    let shared = state.clone();
    let product = db::run(&state.pool, move |conn| {
        let product = software::transition(conn, &actor, &id, transition, body.reason.as_deref())?;
        shared.certificates_changed(conn)?;
        Ok(product)
    })
    .await?;
    Ok(HttpResponse::Ok().json(product))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    subject_id: Option<String>,
    organisation_id: Option<String>,
    #[serde(default = "first_page")]
    page: u32,
    #[serde(default = "default_per_page")]
    per_page: u32,
}

async fn audit_log(
    state: web::Data<AppState>,
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
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let events = db::run(&state.pool, move |conn| {
        audit::list(conn, &actor, &filter, page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(events))
}

async fn list_tokens(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
) -> Result<HttpResponse, AppError> {
    let tokens = db::run(&state.pool, move |conn| users::list_tokens(conn, &actor)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": tokens })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    name: String,
}

async fn create_token(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    body: web::Json<NewTokenBody>,
) -> Result<HttpResponse, AppError> {
    let token = db::run(&state.pool, move |conn| {
        users::create_token(conn, &actor, &body.name, &actor)
    })
    .await?;
    Ok(created(
        format!("/api/v1/tokens/{}", token.token.id),
        &token,
    ))
}

async fn revoke_token(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    db::run(&state.pool, move |conn| {
        users::revoke_token(conn, &actor, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn issue_ssa(
    state: web::Data<AppState>,
    token: BearerToken,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let issued = ssa::issue(&state, ssa::Caller::Token(token.0), path.into_inner()).await?;
    Ok(HttpResponse::Created()
        .content_type("application/jwt")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(issued.jwt))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyUpload {
    jwk: serde_json::Value,
}

async fn list_keys(
    state: &AppState,
    actor: crate::directory::Actor,
    owner: Owner,
) -> Result<HttpResponse, AppError> {
    let keys = db::run(&state.pool, move |conn| {
        keystore::list(conn, &actor, &owner)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": keys })))
}

async fn upload_key(
    state: &AppState,
    actor: crate::directory::Actor,
    owner: Owner,
    body: KeyUpload,
    location: String,
) -> Result<HttpResponse, AppError> {
    let key = db::run(&state.pool, move |conn| {
        keystore::upload(conn, &actor, &owner, &body.jwk)
    })
    .await?;
    Ok(created(
        format!("{location}/{}", crate::web::segment(&key.kid)),
        &key,
    ))
}

async fn remove_key(
    state: &AppState,
    actor: crate::directory::Actor,
    owner: Owner,
    kid: String,
) -> Result<HttpResponse, AppError> {
    db::run(&state.pool, move |conn| {
        keystore::remove(conn, &actor, &owner, &kid)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_software_keys(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    list_keys(&state, actor, Owner::Software(path.into_inner())).await
}

async fn upload_software_key(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<KeyUpload>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let location = format!("/api/v1/software/{id}/keys");
    upload_key(
        &state,
        actor,
        Owner::Software(id),
        body.into_inner(),
        location,
    )
    .await
}

async fn remove_software_key(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, kid) = path.into_inner();
    remove_key(&state, actor, Owner::Software(id), kid).await
}

async fn list_org_keys(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    list_keys(&state, actor, Owner::Organisation(path.into_inner())).await
}

async fn upload_org_key(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<KeyUpload>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let location = format!("/api/v1/organisations/{id}/keys");
    upload_key(
        &state,
        actor,
        Owner::Organisation(id),
        body.into_inner(),
        location,
    )
    .await
}

async fn remove_org_key(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, kid) = path.into_inner();
    remove_key(&state, actor, Owner::Organisation(id), kid).await
}

/// The certificate settings in force.
pub fn issue_settings(state: &AppState) -> pki::IssueSettings<'_> {
    pki::IssueSettings {
        public_url: &state.public_url,
        validity_days: state.config.certificate_validity_days,
        strict_subject: state.config.strict_csr_subject,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateRequest {
    #[serde(rename = "type")]
    cert_type: String,
    csr: String,
}

async fn issue_certificate(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<CertificateRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let shared = state.clone();
    let issued = db::run(&state.pool, move |conn| {
        pki::issue(
            conn,
            &shared.ca,
            &actor,
            &id,
            &body.cert_type,
            &body.csr,
            &issue_settings(&shared),
        )
    })
    .await?;
    Ok(created(
        format!("/api/v1/certificates/{}", issued.certificate.serial),
        &issued,
    ))
}

async fn list_certificates(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let list = db::run(&state.pool, move |conn| pki::list(conn, &actor, &id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": list })))
}

async fn get_certificate(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let serial = path.into_inner();
    let cert = db::run(&state.pool, move |conn| pki::get(conn, &actor, &serial)).await?;
    Ok(HttpResponse::Ok().json(cert))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationBody {
    reason: String,
}

async fn revoke_certificate(
    state: web::Data<AppState>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<RevocationBody>,
) -> Result<HttpResponse, AppError> {
    let serial = path.into_inner();
    let shared = state.clone();
    let cert = db::run(&state.pool, move |conn| {
        let cert = pki::revoke(conn, &actor, &serial, &body.reason)?;
        shared.certificates_changed(conn)?;
        Ok(cert)
    })
    .await?;
    Ok(HttpResponse::Ok().json(cert))
}

//! The JSON API under `/api/v1`, authenticated with bearer tokens; errors are problem+json.
//! Each handler extracts, calls one service and renders. Every handler carries its OpenAPI
//! description (`#[utoipa::path]`), and [`ApiDoc`] collects them into the document served at
//! `/api/openapi.json`.

mod accounts;
mod certificates;
mod keys;
mod organisations;
mod software;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::{self, AppError};
use crate::model::{PageRequest, Status, Transition};
use crate::services::Directory;

pub use openapi::ApiDoc;

mod openapi;

/// The decisions on organisations and software, as the last path segment.
const TRANSITIONS: &str = "{action:approve|reject|suspend|reinstate|revoke}";

/// One resource per path, so that a known path asked with another method answers 405 with
/// `Allow` (separate single-route resources would fall through to 404). Specific paths come
/// before the decision paths that share their shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post, put, resource};
    cfg.service(resource("/api/openapi.json").route(get().to(openapi::serve)))
        .service(
            web::scope("/api/v1")
                .service(resource("/me").route(get().to(accounts::me)))
                .service(resource("/me/password").route(post().to(accounts::change_password)))
                .service(resource("/users").route(get().to(accounts::list_users)))
                .service(
                    resource("/users/{user_id}/{action:disable|enable}")
                        .route(post().to(accounts::set_user_disabled)),
                )
                .service(resource("/invitations").route(get().to(organisations::my_invitations)))
                .service(
                    resource("/invitations/{org_id}/{action:accept|decline}")
                        .route(post().to(organisations::answer_invitation)),
                )
                .service(
                    resource("/organisations")
                        .route(post().to(organisations::apply))
                        .route(get().to(organisations::list)),
                )
                .service(resource("/organisations/{org_id}").route(get().to(organisations::get)))
                .service(
                    resource("/organisations/{org_id}/members")
                        .route(get().to(organisations::members))
                        .route(post().to(organisations::add_member)),
                )
                .service(
                    resource("/organisations/{org_id}/members/{user_id}")
                        .route(delete().to(organisations::remove_member)),
                )
                .service(
                    resource("/organisations/{org_id}/authorization-servers")
                        .route(put().to(organisations::set_authorization_servers)),
                )
                .service(
                    resource("/organisations/{org_id}/software")
                        .route(post().to(software::register))
                        .route(get().to(software::list_for_organisation)),
                )
                .service(
                    resource("/organisations/{org_id}/keys")
                        .route(get().to(keys::list_org_keys))
                        .route(post().to(keys::upload_org_key)),
                )
                .service(
                    resource("/organisations/{org_id}/keys/{kid}")
                        .route(delete().to(keys::remove_org_key)),
                )
                .service(
                    resource(format!("/organisations/{{org_id}}/{TRANSITIONS}"))
                        .route(post().to(organisations::transition)),
                )
                .service(resource("/software").route(get().to(software::list)))
                .service(
                    resource("/software/{software_id}")
                        .route(get().to(software::get))
                        .route(patch().to(software::update)),
                )
                .service(
                    resource("/software/{software_id}/ssa").route(post().to(software::issue_ssa)),
                )
                .service(
                    resource("/software/{software_id}/changes")
                        .route(delete().to(software::withdraw_change)),
                )
                .service(
                    resource("/software/{software_id}/changes/{action:approve|reject}")
                        .route(post().to(software::decide_change)),
                )
                .service(
                    resource("/software/{software_id}/keys")
                        .route(get().to(keys::list_software_keys))
                        .route(post().to(keys::upload_software_key)),
                )
                .service(
                    resource("/software/{software_id}/keys/{kid}")
                        .route(delete().to(keys::remove_software_key)),
                )
                .service(
                    resource("/software/{software_id}/certificates")
                        .route(post().to(certificates::issue))
                        .route(get().to(certificates::list)),
                )
                .service(
                    resource(format!("/software/{{software_id}}/{TRANSITIONS}"))
                        .route(post().to(software::transition)),
                )
                .service(resource("/certificates/{serial}").route(get().to(certificates::get)))
                .service(
                    resource("/certificates/{serial}/revoke")
                        .route(post().to(certificates::revoke)),
                )
                .service(resource("/audit").route(get().to(accounts::audit_log)))
                .service(
                    resource("/tokens")
                        .route(get().to(accounts::list_tokens))
                        .route(post().to(accounts::create_token)),
                )
                .service(resource("/tokens/{token_id}").route(delete().to(accounts::revoke_token))),
        );
}

/// An optional JSON body: empty means `None`, anything else must be valid JSON within the
/// body limit.
pub(crate) struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = req
            .app_data::<web::Data<Directory>>()
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

/// Why an operator takes a decision. Required (non-empty after trimming) to reject, suspend
/// and revoke; the organisation sees it. Optional to approve and reinstate.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    #[schema(max_length = 1000)]
    reason: Option<String>,
}

fn transition_of(action: &str) -> Result<Transition, AppError> {
    Transition::parse(action).ok_or(AppError::NotFound("action"))
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

fn first_page() -> u32 {
    PageRequest::default().page
}

fn default_per_page() -> u32 {
    PageRequest::default().per_page
}

fn created(location: String, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body)
}

/// `{"items": [...]}`: the shape of unpaged lists.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Items<T> {
    pub items: Vec<T>,
}

impl<T> Items<T> {
    fn of(items: Vec<T>) -> Self {
        Self { items }
    }
}

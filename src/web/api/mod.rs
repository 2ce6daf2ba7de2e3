//! The JSON API under `/api/v1`, authenticated with bearer tokens; errors are problem+json.
//! Each handler extracts, calls one service and renders. Every handler carries its OpenAPI
//! description (`#[utoipa::path]`), and [`ApiDoc`] collects them into the document served at
//! `/api/openapi.json`.

mod accounts;
mod certificates;
mod keys;
mod organisations;
mod search;
mod software;
mod statements;
mod subscriptions;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::{self, AppError};
use super::routes::Table;
use crate::model::Error;
use crate::model::inputs::RegulatedRole;
use crate::model::{PageRequest, Status, Timestamp, Transition};
use crate::services::Directory;

pub use openapi::{ApiDoc, document as openapi_document};

mod openapi;

/// The decisions on organisations and software, as the last path segment.
const TRANSITIONS: &str = "{action:approve|reject|suspend|reinstate|revoke}";

/// The API's routes. Specific paths come before the decision paths that share their shape.
pub fn routes() -> Table {
    let v1 = |path: &str| format!("/api/v1{path}");
    Table::new()
        .get("/api/openapi.json", openapi::serve)
        .get(&v1("/me"), accounts::me)
        .patch(&v1("/me"), accounts::update_me)
        .post(&v1("/me/password"), accounts::change_password)
        .post(&v1("/password-reset"), accounts::request_password_reset)
        .post(
            &v1("/password-reset/confirm"),
            accounts::confirm_password_reset,
        )
        .get(&v1("/users"), accounts::list_users)
        .post(
            &v1("/users/{user_id}/{action:disable|enable}"),
            accounts::set_user_disabled,
        )
        .get(&v1("/invitations"), organisations::my_invitations)
        .post(
            &v1("/invitations/{org_id}/{action:accept|decline}"),
            organisations::answer_invitation,
        )
        .post(&v1("/organisations"), organisations::apply)
        .get(&v1("/organisations"), organisations::list)
        .get(&v1("/organisations/{org_id}"), organisations::get)
        .get(
            &v1("/organisations/{org_id}/members"),
            organisations::members,
        )
        .post(
            &v1("/organisations/{org_id}/members"),
            organisations::add_member,
        )
        .delete(
            &v1("/organisations/{org_id}/members/{user_id}"),
            organisations::remove_member,
        )
        .delete(
            &v1("/organisations/{org_id}/address-invitations"),
            organisations::withdraw_address_invitation,
        )
        .put(
            &v1("/organisations/{org_id}/authorization-servers"),
            organisations::set_authorization_servers,
        )
        .get(
            &v1("/organisations/{org_id}/issuer-claims"),
            organisations::issuer_claims,
        )
        .post(
            &v1("/organisations/{org_id}/issuer-claims/verify"),
            organisations::verify_issuer,
        )
        .post(
            &v1("/organisations/{org_id}/issuer-claims/release"),
            organisations::release_issuer,
        )
        .get(
            &v1("/issuer-claims/contested"),
            organisations::contested_issuers,
        )
        .put(
            &v1("/organisations/{org_id}/entity-configuration"),
            organisations::put_entity_configuration,
        )
        .post(&v1("/organisations/{org_id}/software"), software::register)
        .get(
            &v1("/organisations/{org_id}/software"),
            software::list_for_organisation,
        )
        .get(&v1("/organisations/{org_id}/keys"), keys::list_org_keys)
        .post(&v1("/organisations/{org_id}/keys"), keys::upload_org_key)
        .delete(
            &v1("/organisations/{org_id}/keys/{kid}"),
            keys::remove_org_key,
        )
        .get(
            &v1("/organisations/{org_id}/subscriptions"),
            subscriptions::list,
        )
        .post(
            &v1("/organisations/{org_id}/subscriptions"),
            subscriptions::create,
        )
        .get(
            &v1("/organisations/{org_id}/subscriptions/{subscription_id}"),
            subscriptions::get,
        )
        .patch(
            &v1("/organisations/{org_id}/subscriptions/{subscription_id}"),
            subscriptions::change,
        )
        .delete(
            &v1("/organisations/{org_id}/subscriptions/{subscription_id}"),
            subscriptions::delete,
        )
        .post(
            &v1("/organisations/{org_id}/subscriptions/{subscription_id}/poll"),
            subscriptions::poll,
        )
        .post(
            &v1(&format!("/organisations/{{org_id}}/{TRANSITIONS}")),
            organisations::transition,
        )
        .get(&v1("/software"), software::list)
        .get(&v1("/software/{software_id}"), software::get)
        .patch(&v1("/software/{software_id}"), software::update)
        .post(&v1("/software/{software_id}/ssa"), software::issue_ssa)
        .put(
            &v1("/software/{software_id}/entity-configuration"),
            software::put_entity_configuration,
        )
        .get(
            &v1("/software/{software_id}/entity-identifier"),
            software::entity_identifier,
        )
        .put(
            &v1("/software/{software_id}/entity-identifier"),
            software::set_entity_identifier,
        )
        .delete(
            &v1("/software/{software_id}/changes"),
            software::withdraw_change,
        )
        .post(
            &v1("/software/{software_id}/changes/{action:approve|reject}"),
            software::decide_change,
        )
        .get(
            &v1("/software/{software_id}/keys"),
            keys::list_software_keys,
        )
        .post(
            &v1("/software/{software_id}/keys"),
            keys::upload_software_key,
        )
        .delete(
            &v1("/software/{software_id}/keys/{kid}"),
            keys::remove_software_key,
        )
        .post(
            &v1("/software/{software_id}/certificates"),
            certificates::issue,
        )
        .get(
            &v1("/software/{software_id}/certificates"),
            certificates::list,
        )
        .post(
            &v1(&format!("/software/{{software_id}}/{TRANSITIONS}")),
            software::transition,
        )
        .post(&v1("/certificates/validate"), certificates::validate)
        .get(&v1("/certificates/{serial}"), certificates::get)
        .post(&v1("/certificates/{serial}/revoke"), certificates::revoke)
        .post(&v1("/ssa/{jti}/revoke"), statements::revoke)
        .get(&v1("/audit"), accounts::audit_log)
        .get(&v1("/search"), search::search)
        .get(&v1("/overview"), search::overview)
        .get(&v1("/tokens"), accounts::list_tokens)
        .post(&v1("/tokens"), accounts::create_token)
        .delete(&v1("/tokens/{token_id}"), accounts::revoke_token)
}

/// Whether a list is asked for as CSV: `format=csv`, or `Accept: text/csv` without a
/// `format`; another format is a 422.
pub(crate) fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, AppError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(crate::model::invalid("format", "json or csv").into()),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                accept
                    .split(',')
                    .any(|t| t.split(';').next().unwrap_or("").trim() == "text/csv")
            })),
    }
}

/// A CSV download, streamed as the service yields it: a failure after the first chunk
/// ends the body early (the client sees a cut download, never a wrong one).
pub(crate) fn csv_response(
    name: &str,
    stream: impl futures_util::Stream<Item = crate::model::Result<bytes::Bytes>> + 'static,
) -> HttpResponse {
    use futures_util::StreamExt;
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(stream.map(|chunk| chunk.map_err(AppError::from)))
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
                None => AppError::Domain(Error::Unexpected(anyhow::anyhow!(
                    "application state missing"
                ))),
            })?;
            optional_json(&body).map(OptionalJson)
        })
    }
}

fn optional_json<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // `null` is no body too: the document describes the body as nullable.
    serde_json::from_slice::<Option<T>>(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            AppError::Domain(Error::Validation(format!("invalid request: {e}")))
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
    Transition::parse(action).ok_or(AppError::Domain(Error::NotFound("action")))
}

/// A `status` query parameter: empty or absent means any.
fn status_filter(status: Option<&str>) -> Result<Option<Status>, AppError> {
    match status {
        None => Ok(None),
        Some(s) => Status::parse(s).map(Some).ok_or_else(|| {
            AppError::Domain(Error::Validation(format!(
                "status: {s:?} is not one of pending, active, rejected, suspended, revoked"
            )))
        }),
    }
}

/// A `role` filter: one of the regulated roles.
pub(crate) fn role_filter(role: Option<&str>) -> Result<Option<RegulatedRole>, AppError> {
    role.map(|r| {
        RegulatedRole::parse_list("role", &[r.to_owned()])
            .map(|roles| roles[0])
            .map_err(AppError::from)
    })
    .transpose()
}

/// A `country` filter: an ISO 3166-1 alpha-2 code, in any case.
pub(crate) fn country_filter(country: Option<&str>) -> Result<Option<String>, AppError> {
    country
        .map(
            |c| match c.len() == 2 && c.chars().all(|l| l.is_ascii_alphabetic()) {
                true => Ok(c.to_ascii_uppercase()),
                false => {
                    Err(crate::model::invalid("country", "not an ISO 3166-1 alpha-2 code").into())
                }
            },
        )
        .transpose()
}

/// A time filter (`created_since`, `changed_since`): RFC 3339.
fn since_filter(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, AppError> {
    value
        .map(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                .map(|t| {
                    let t = t.to_offset(time::UtcOffset::UTC);
                    time::PrimitiveDateTime::new(t.date(), t.time())
                })
                .map_err(|_| {
                    crate::model::invalid(name, "not an RFC 3339 time such as 2026-12-01T00:00:00Z")
                        .into()
                })
        })
        .transpose()
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

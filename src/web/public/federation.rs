//! OpenID Federation 1.0 endpoints of the trust anchor: its entity configuration, fetch and
//! list. Errors are the specification's error JSON (section 8.9), not problem+json.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::federation::{ENTITY_STATEMENT_TYPE, Refusal};
use crate::services::Directory;
use crate::services::federation::{self as service, ListQuery};
use crate::web::error::AppError;

fn refused(refusal: &Refusal) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": refusal.error, "error_description": refusal.description}))
}

fn statement(state: &Directory, jwt: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ENTITY_STATEMENT_TYPE)
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.config.jwks_max_age_secs),
        ))
        .body(jwt)
}

/// Federation entity configuration
///
/// The directory's entity configuration as an OpenID Federation 1.0 trust anchor
/// (`application/entity-statement+jwt`, JWS `typ` `entity-statement+jwt`): `iss` and `sub` the
/// directory, its federation keys (`jwks`, apart from the SSA keys of `/.well-known/jwks.json`)
/// and its `federation_entity` metadata naming the fetch and list endpoints. Valid 24 hours.
#[utoipa::path(get, path = "/.well-known/openid-federation", tag = "federation", operation_id = "federationEntityConfiguration", security(()),
    responses((status = 200, description = "The signed entity configuration.", content_type = "application/entity-statement+jwt", body = String)))]
pub(crate) async fn entity_configuration(
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let jwt = service::entity_configuration(&state).await?;
    Ok(statement(&state, jwt))
}

#[derive(serde::Deserialize)]
struct FetchQuery {
    sub: Option<String>,
}

/// Federation fetch
///
/// The subordinate statement about `sub`, a software product in the federation (its entity
/// identifier, as the list endpoint gives it): its keystore keys (`jwks`), the metadata policy
/// its registrations must meet (`jwks_uri` pinned to its keystore, `redirect_uris` within the
/// registered ones, `token_endpoint_auth_method` one of `private_key_jwt` and
/// `tls_client_auth`, `scope` within its roles') and what the directory asserts about it
/// (`metadata`). A product that is not active, or whose organisation is not, is `not_found`.
#[utoipa::path(get, path = "/federation/fetch", tag = "federation", operation_id = "federationFetch", security(()),
    params(("sub" = String, Query, description = "The subordinate's entity identifier.")),
    responses((status = 200, description = "The signed subordinate statement.", content_type = "application/entity-statement+jwt", body = String),
        (status = 400, description = "Error JSON: invalid_request (no sub, more than one, too long, or the trust anchor itself).", body = Object),
        (status = 404, description = "Error JSON: not_found.", body = Object)))]
pub(crate) async fn fetch(
    req: HttpRequest,
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let query: FetchQuery = match serde_html_form::from_str(req.query_string()) {
        Ok(query) => query,
        Err(e) => {
            return Ok(refused(&Refusal::new(
                "invalid_request",
                format!("the parameters cannot be read (sub at most once): {e}"),
            )));
        }
    };
    Ok(match service::fetch(&state, query.sub).await? {
        Ok(jwt) => statement(&state, jwt),
        Err(refusal) => refused(&refusal),
    })
}

/// Federation list
///
/// The entity identifiers of the trust anchor's subordinates (a JSON array): the software
/// products in the federation, narrowed by `entity_type` (repeatable). Every subordinate is a
/// leaf, so `intermediate=true` lists none. Trust marks are not issued yet: `trust_marked`
/// and `trust_mark_type` get `unsupported_parameter`.
#[utoipa::path(get, path = "/federation/list", tag = "federation", operation_id = "federationList", security(()),
    params(("entity_type" = Option<String>, Query, description = "Only entities of this type (repeatable)."),
        ("intermediate" = Option<bool>, Query, description = "Only intermediates (true) or only leaves (false).")),
    responses((status = 200, description = "The entity identifiers.", body = Vec<String>),
        (status = 400, description = "Error JSON: invalid_request, unsupported_parameter.", body = Object)))]
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let query: ListQuery = match serde_html_form::from_str(req.query_string()) {
        Ok(query) => query,
        Err(e) => {
            return Ok(refused(&Refusal::new(
                "invalid_request",
                format!("the parameters cannot be read: {e}"),
            )));
        }
    };
    Ok(match service::list(&state, query).await? {
        Ok(ids) => HttpResponse::Ok()
            .insert_header((
                header::CACHE_CONTROL,
                format!("public, max-age={}", state.config.status_max_age_secs),
            ))
            .json(ids),
        Err(refusal) => refused(&refusal),
    })
}

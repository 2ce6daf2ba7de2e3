//! OpenID Federation 1.0 endpoints of the trust anchor: its entity configuration, fetch and
//! list. Errors are the specification's error JSON (section 8.9), not problem+json.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::federation::{ENTITY_STATEMENT_TYPE, Refusal};
use crate::model::protocol::FederationCode;
use crate::services::Directory;
use crate::services::federation::{self as service, ListQuery, Subject};
use crate::web::error::AppError;

fn refused(refusal: &Refusal) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": refusal.error, "error_description": refusal.description}))
}

/// The query's parameters, or why they are `invalid_request` (`note` says which may appear
/// once).
fn parameters<T: serde::de::DeserializeOwned>(req: &HttpRequest, note: &str) -> Result<T, Refusal> {
    serde_html_form::from_str(req.query_string()).map_err(|e| {
        Refusal::new(
            FederationCode::InvalidRequest,
            format!("the parameters cannot be read {note}: {e}"),
        )
    })
}

/// A list of entity identifiers, cached as the status documents are.
fn identifiers(
    state: &Directory,
    response: &mut actix_web::HttpResponseBuilder,
    ids: Vec<String>,
) -> HttpResponse {
    response
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.config.status_max_age_secs),
        ))
        .json(ids)
}

fn statement(state: &Directory, jwt: String) -> HttpResponse {
    signed(state, ENTITY_STATEMENT_TYPE, jwt)
}

fn signed(state: &Directory, media_type: &str, jwt: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(media_type)
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
/// The subordinate statement about `sub` (its entity identifier, as the list endpoint gives
/// it): a software product, an organisation or an ASPSP's authorization server in the
/// federation. It carries the subordinate's own keystore keys (`jwks`), the metadata policy
/// it must meet and what the directory asserts about it (`metadata`): for a product
/// `jwks_uri` pinned to its keystore, `redirect_uris` within the registered ones,
/// `token_endpoint_auth_method` one of `private_key_jwt` and `tls_client_auth`, `scope`
/// within its roles'; for an organisation its legal name; for a server the registered
/// `issuer` and `registration_endpoint`. One that is not active, or whose organisation is
/// not, is `not_found`.
/// A statement is signed at most once per `status_max_age_secs` (its max-age) and served
/// again meanwhile, so a change shows within that time, as in the status documents.
#[utoipa::path(get, path = "/federation/fetch", tag = "federation", operation_id = "federationFetch", security(()),
    params(("sub" = String, Query, description = "The subordinate's entity identifier.", min_length = 1, max_length = 2048)),
    responses((status = 200, description = "The signed subordinate statement.", content_type = "application/entity-statement+jwt", body = String),
        (status = 400, description = "Error JSON: invalid_request (no sub, more than one, too long, or the trust anchor itself).", body = Object),
        (status = 404, description = "Error JSON: not_found.", body = Object)))]
pub(crate) async fn fetch(
    req: HttpRequest,
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let query: FetchQuery = match parameters(&req, "(sub at most once)") {
        Ok(query) => query,
        Err(refusal) => return Ok(refused(&refusal)),
    };
    Ok(match service::fetch(&state, query.sub).await {
        // It says what the product's status is: cached as the status documents are.
        Ok(jwt) => HttpResponse::Ok()
            .content_type(ENTITY_STATEMENT_TYPE)
            .insert_header((
                header::CACHE_CONTROL,
                format!("public, max-age={}", state.config.status_max_age_secs),
            ))
            .body(jwt),
        Err(failure) => refused(&failure.refusal()?),
    })
}

/// Federation list
///
/// The entity identifiers of the trust anchor's subordinates (a JSON array, sorted): the
/// software products and organisations in the federation and the ASPSPs' authorization
/// servers, narrowed by `entity_type` (repeatable). Every subordinate is a leaf, so
/// `intermediate=true` lists none; `trust_marked=true` lists those holding a trust mark,
/// `trust_mark_type` those holding one of that type. With `limit`, one page: a `Link`
/// header (`rel="next"`) gives the next, which starts `after` the last of this one.
#[utoipa::path(get, path = "/federation/list", tag = "federation", operation_id = "federationList", security(()),
    params(("entity_type" = Option<String>, Query, description = "Only entities of this type (repeatable).", max_length = 2048),
        ("intermediate" = Option<bool>, Query, description = "Only intermediates (true) or only leaves (false)."),
        ("trust_marked" = Option<bool>, Query, description = "Only entities holding a trust mark."),
        ("trust_mark_type" = Option<String>, Query, description = "Only entities holding a trust mark of this type.", max_length = 2048),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000); a Link header names the next page.", minimum = 1, maximum = 1000),
        ("after" = Option<String>, Query, description = "Only entity identifiers sorting after this one (the next page).", max_length = 2048)),
    responses((status = 200, description = "The entity identifiers.", body = Vec<String>, headers(("Link" = String, description = "With limit, when more follow: the next page, rel=\"next\"."))),
        (status = 400, description = "Error JSON: invalid_request.", body = Object)))]
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let query: ListQuery =
        match parameters(&req, "(entity_type may repeat, the others at most once)") {
            Ok(query) => query,
            Err(refusal) => return Ok(refused(&refusal)),
        };
    Ok(match service::list(&state, query).await {
        Ok(page) => {
            let mut response = HttpResponse::Ok();
            if let (true, Some(last)) = (page.more, page.entities.last()) {
                response.insert_header((header::LINK, next_page(&state, &req, last)));
            }
            identifiers(&state, &mut response, page.entities)
        }
        Err(failure) => refused(&failure.refusal()?),
    })
}

/// The `Link` to the page after `last`: the same query, `after` the last identifier.
fn next_page(state: &Directory, req: &HttpRequest, last: &str) -> String {
    let mut next = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if name != "after" {
            next.append_pair(&name, &value);
        }
    }
    next.append_pair("after", last);
    format!(
        "<{}?{}>; rel=\"next\"",
        crate::federation::Endpoints::of(&state.public_url).list,
        next.finish()
    )
}

/// Federation trust mark list
///
/// The entities holding an active trust mark of `trust_mark_type` (a JSON array of entity
/// identifiers, sorted); with `sub`, that entity alone if it holds one, else none.
#[utoipa::path(get, path = "/federation/trust-mark/list", tag = "federation", operation_id = "federationTrustMarkList", security(()),
    params(("trust_mark_type" = String, Query, description = "The trust mark type's identifier.", min_length = 1, max_length = 2048),
        ("sub" = Option<String>, Query, description = "Only this entity.", min_length = 1, max_length = 2048)),
    responses((status = 200, description = "The entity identifiers.", body = Vec<String>),
        (status = 400, description = "Error JSON: invalid_request.", body = Object),
        (status = 404, description = "Error JSON: not_found (a type this anchor does not issue).", body = Object)))]
pub(crate) async fn trust_mark_list(
    req: HttpRequest,
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let query: TrustMarkQuery = match parameters(&req, "(each at most once)") {
        Ok(query) => query,
        Err(refusal) => return Ok(refused(&refusal)),
    };
    Ok(
        match service::trust_marked(&state, query.trust_mark_type, query.sub).await {
            Ok(ids) => identifiers(&state, &mut HttpResponse::Ok(), ids),
            Err(failure) => refused(&failure.refusal()?),
        },
    )
}

#[derive(serde::Deserialize)]
struct TrustMarkQuery {
    trust_mark_type: Option<String>,
    sub: Option<String>,
}

/// Federation trust mark
///
/// A trust mark (`application/trust-mark+jwt`, JWS `typ` `trust-mark+jwt`) of
/// `trust_mark_type` for `sub`: the directory issues one per regulated role (AISP, PISP,
/// CBPII, ASPSP) and environment (production, sandbox), named
/// `{directory}/trust-marks/{role}/{environment}` and listed in its entity configuration's
/// `trust_mark_issuers`, to the products in the federation that hold that role in that
/// environment and to the active organisations for each of their roles in both. Valid 24
/// hours; its status endpoint says at once when it no longer holds.
#[utoipa::path(get, path = "/federation/trust-mark", tag = "federation", operation_id = "federationTrustMark", security(()),
    params(("trust_mark_type" = String, Query, description = "The trust mark type's identifier.", min_length = 1, max_length = 2048),
        ("sub" = String, Query, description = "The entity identifier of the subject.", min_length = 1, max_length = 2048)),
    responses((status = 200, description = "The signed trust mark.", content_type = "application/trust-mark+jwt", body = String),
        (status = 400, description = "Error JSON: invalid_request.", body = Object),
        (status = 404, description = "Error JSON: not_found (no such subject in the federation, or it does not hold that role there).", body = Object)))]
pub(crate) async fn trust_mark(
    req: HttpRequest,
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let query: TrustMarkQuery = match parameters(&req, "(each at most once)") {
        Ok(query) => query,
        Err(refusal) => return Ok(refused(&refusal)),
    };
    Ok(
        match service::trust_mark(&state, query.trust_mark_type, query.sub).await {
            Ok(jwt) => signed(&state, "application/trust-mark+jwt", jwt),
            Err(failure) => refused(&failure.refusal()?),
        },
    )
}

#[derive(serde::Deserialize)]
struct StatusForm {
    trust_mark: Option<String>,
}

/// The largest trust mark status request read: a trust mark of 16 KiB, percent-encoded.
const MAX_STATUS_REQUEST: usize = 64 * 1024;

/// The trust mark status request as the document describes it.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a shape for the OpenAPI document; the handler reads the form itself"
)]
pub(crate) struct TrustMarkStatusForm {
    /// The trust mark JWT (at most 16 KiB).
    #[schema(min_length = 1, max_length = 16384)]
    trust_mark: String,
}

/// Federation trust mark status
///
/// Whether a trust mark holds now (`application/trust-mark-status-response+jwt`, signed):
/// `status` is `active`, `expired`, `revoked` (its subject was suspended or revoked, or no
/// longer holds the role there) or `invalid` (not a trust mark this directory signed). The
/// request is a form with `trust_mark`, the trust mark JWT.
#[utoipa::path(post, path = "/federation/trust-mark/status", tag = "federation", operation_id = "federationTrustMarkStatus", security(()),
    request_body(content = TrustMarkStatusForm, content_type = "application/x-www-form-urlencoded", description = "trust_mark=<the trust mark JWT>"),
    responses((status = 200, description = "The signed status response.", content_type = "application/trust-mark-status-response+jwt", body = String),
        (status = 400, description = "Error JSON: invalid_request.", body = Object)))]
pub(crate) async fn trust_mark_status(
    req: HttpRequest,
    state: web::Data<Directory>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    if !crate::web::is_form(&req) {
        return Ok(refused(&Refusal::new(
            FederationCode::InvalidRequest,
            "send trust_mark as application/x-www-form-urlencoded",
        )));
    }
    let Some(body) = super::form_body(payload, MAX_STATUS_REQUEST).await? else {
        return Ok(refused(&Refusal::new(
            FederationCode::InvalidRequest,
            format!(
                "the request is larger than {} KiB",
                MAX_STATUS_REQUEST / 1024
            ),
        )));
    };
    let form: StatusForm = match serde_html_form::from_bytes(&body) {
        Ok(form) => form,
        Err(e) => {
            return Ok(refused(&Refusal::new(
                FederationCode::InvalidRequest,
                format!("the parameters cannot be read (trust_mark at most once): {e}"),
            )));
        }
    };
    Ok(
        match service::trust_mark_status(&state, form.trust_mark).await {
            Ok(jwt) => HttpResponse::Ok()
                .content_type("application/trust-mark-status-response+jwt")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(jwt),
            Err(failure) => refused(&failure.refusal()?),
        },
    )
}

/// Federation historical keys
///
/// The federation keys that stopped signing (`application/jwk-set+jwt`, JWS `typ`
/// `jwk-set+jwt`), each with `exp`, when it was retired: what verifies statements signed
/// before a rotation.
#[utoipa::path(get, path = "/federation/historical-keys", tag = "federation", operation_id = "federationHistoricalKeys", security(()),
    responses((status = 200, description = "The signed historical keys.", content_type = "application/jwk-set+jwt", body = String)))]
pub(crate) async fn historical_keys(state: web::Data<Directory>) -> Result<HttpResponse, AppError> {
    let jwt = service::historical_keys(&state).await?;
    Ok(signed(&state, "application/jwk-set+jwt", jwt))
}

/// A product's entity configuration
///
/// The entity configuration a software product published through the API (self-signed with
/// a key of its keystore), hosted at its entity identifier while it is in the federation.
#[utoipa::path(get, path = "/federation/software/{software_id}/.well-known/openid-federation", tag = "federation", operation_id = "federationLeafConfiguration", security(()),
    params(("software_id" = crate::model::SoftwareId, Path, description = "The software product.")),
    responses((status = 200, description = "The product's signed entity configuration.", content_type = "application/entity-statement+jwt", body = String),
        (status = 404, description = "Error JSON: not_found (none published, or the product is not in the federation).", body = Object)))]
pub(crate) async fn leaf_configuration(
    state: web::Data<Directory>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    hosted(state, path.into_inner().parse().ok().map(Subject::Software)).await
}

/// An organisation's entity configuration
///
/// The entity configuration an organisation published through the API (self-signed with a
/// key of its own keystore), hosted at its entity identifier while it is active.
#[utoipa::path(get, path = "/federation/organisations/{org_id}/.well-known/openid-federation", tag = "federation", operation_id = "federationOrganisationConfiguration", security(()),
    params(("org_id" = crate::model::OrgId, Path, description = "The organisation.")),
    responses((status = 200, description = "The organisation's signed entity configuration.", content_type = "application/entity-statement+jwt", body = String),
        (status = 404, description = "Error JSON: not_found (none published, or the organisation is not active).", body = Object)))]
pub(crate) async fn organisation_configuration(
    state: web::Data<Directory>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    hosted(
        state,
        path.into_inner().parse().ok().map(Subject::Organisation),
    )
    .await
}

async fn hosted(
    state: web::Data<Directory>,
    subject: Option<Subject>,
) -> Result<HttpResponse, AppError> {
    let Some(subject) = subject else {
        return Ok(refused(&service::unknown_entity()));
    };
    Ok(match service::hosted_configuration(&state, subject).await {
        Ok(jwt) => statement(&state, jwt),
        Err(failure) => refused(&failure.refusal()?),
    })
}

/// Federation resolve
///
/// Resolves `sub`, a product in the federation that published its own entity configuration,
/// for `trust_anchor` (this directory): `application/resolve-response+jwt` with its metadata
/// (its entity configuration's, with this anchor's `metadata` and `metadata_policy` applied),
/// its trust marks, and the trust chain (its entity configuration, the subordinate statement,
/// this anchor's entity configuration). `entity_type` (repeatable) narrows the metadata.
#[utoipa::path(get, path = "/federation/resolve", tag = "federation", operation_id = "federationResolve", security(()),
    params(("sub" = String, Query, description = "The entity identifier to resolve.", min_length = 1, max_length = 2048),
        ("trust_anchor" = String, Query, description = "The trust anchor: this directory.", min_length = 1, max_length = 2048),
        ("entity_type" = Option<String>, Query, description = "Only this entity type's metadata (repeatable).", max_length = 2048)),
    responses((status = 200, description = "The signed resolve response.", content_type = "application/resolve-response+jwt", body = String),
        (status = 400, description = "Error JSON: invalid_request, invalid_trust_anchor, invalid_trust_chain, invalid_metadata.", body = Object),
        (status = 404, description = "Error JSON: not_found.", body = Object)))]
pub(crate) async fn resolve(
    req: HttpRequest,
    state: web::Data<Directory>,
) -> Result<HttpResponse, AppError> {
    let query: service::ResolveQuery = match parameters(&req, "(sub and trust_anchor at most once)")
    {
        Ok(query) => query,
        Err(refusal) => return Ok(refused(&refusal)),
    };
    Ok(match service::resolve(&state, query).await {
        Ok(jwt) => signed(&state, "application/resolve-response+jwt", jwt),
        Err(failure) => refused(&failure.refusal()?),
    })
}

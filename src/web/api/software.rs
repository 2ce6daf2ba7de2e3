//! Software products: registration, lists, edits and change decisions, operator decisions and
//! statements.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{
    OptionalJson, ReasonBody, created, default_per_page, first_page, status_filter, transition_of,
};
use crate::model::software::{ChangeDecision, Changes, Registration, Software, SoftwareFilter};
use crate::model::{OrgId, Page, PageRequest, SoftwareId};
use crate::services::statements::{self, Caller};
use crate::services::{Directory, software};
use crate::web::auth::{ApiUser, TokenOrClient};
use crate::web::error::{AppError, Problem};

/// Register a software product
///
/// Members of the organisation (admins and developers) and operators. The product is
/// pending, or active at once for sandbox software of an active organisation when
/// `auto_approve_sandbox` is set.
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/software", tag = "software", operation_id = "registerSoftware",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body = Registration,
    responses((status = 201, description = "The product.", body = Software,
            headers(("Location" = String, description = "The product's URL."))),
        (status = 409, description = "The organisation cannot register software.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn register(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Json<Registration>,
) -> Result<HttpResponse, AppError> {
    let product = software::register(&state, actor, path.into_inner(), body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/software/{}", product.id),
        &product,
    ))
}

/// An organisation's software products
///
/// Its members and operators; oldest first.
#[utoipa::path(get, path = "/api/v1/organisations/{org_id}/software", tag = "software", operation_id = "listOrganisationSoftware",
    params(("org_id" = OrgId, Path, description = "The organisation."), PageRequest),
    responses((status = 200, description = "One page of products.", body = Page<Software>)))]
pub(super) async fn list_for_organisation(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    page: web::Query<PageRequest>,
) -> Result<HttpResponse, AppError> {
    let page = page.into_inner().checked()?;
    let list = software::list(
        &state,
        actor,
        Some(path.into_inner()),
        SoftwareFilter::default(),
        page,
    )
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Filters of the software list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SoftwareQuery {
    /// Only products in this status (`pending` is the operators' queue).
    #[param(value_type = Option<crate::model::Status>)]
    status: Option<String>,
    /// Only products whose change waits for an operator's decision.
    #[serde(default)]
    pending_change: bool,
    /// Only products of this environment.
    #[param(value_type = Option<crate::model::inputs::Environment>)]
    environment: Option<String>,
    /// Only products with this role.
    #[param(value_type = Option<crate::model::inputs::RegulatedRole>)]
    role: Option<String>,
    /// Only products registered at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    created_since: Option<String>,
    /// Only products changed at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    changed_since: Option<String>,
    /// `csv`: every product of the filter as CSV (also with `Accept: text/csv`), streamed;
    /// `page` and `per_page` are then ignored.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
    /// Continue where the page before ended: its `next` (a keyset page, as cheap as the first
    /// however deep; `page` is then ignored).
    #[param(
        pattern = "^[0-9]{1,16}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
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

/// List software products
///
/// Operators see every product, members their organisations'; oldest first. With
/// `format=csv` (or `Accept: text/csv`), every product of the filter as CSV, streamed.
#[utoipa::path(get, path = "/api/v1/software", tag = "software", operation_id = "listSoftware",
    params(SoftwareQuery),
    responses((status = 200, description = "One page of products, or all of them as CSV.",
        content((Page<Software> = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A malformed filter.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list(
    req: actix_web::HttpRequest,
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    query: web::Query<SoftwareQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = SoftwareFilter {
        status: status_filter(query.status.as_deref())?,
        pending_change: query.pending_change,
        environment: query
            .environment
            .map(|e| crate::model::inputs::Environment::parse("environment", &e))
            .transpose()?,
        role: super::role_filter(query.role.as_deref())?,
        created_since: super::since_filter("created_since", query.created_since.as_deref())?,
        changed_since: super::since_filter("changed_since", query.changed_since.as_deref())?,
    };
    if super::wants_csv(&req, query.format.as_deref())? {
        let stream = software::export(state.into_inner(), actor, filter)?;
        return Ok(super::csv_response("software.csv", stream));
    }
    let page = PageRequest {
        page: query.page,
        per_page: query.per_page,
    }
    .checked()?;
    let list = match query.after.as_deref() {
        Some(after) => software::list_after(&state, actor, filter, after, page.limit()).await?,
        None => software::list(&state, actor, None, filter, page)
            .await?
            .continued(software::position),
    };
    Ok(HttpResponse::Ok().json(list))
}

/// One software product
///
/// Members of its organisation and operators; anyone else gets 404.
#[utoipa::path(get, path = "/api/v1/software/{software_id}", tag = "software", operation_id = "getSoftware",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    responses((status = 200, description = "The product.", body = Software)))]
pub(super) async fn get(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
) -> Result<HttpResponse, AppError> {
    let (product, _, _) = software::get(&state, actor, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(product))
}

/// Edit a software product
///
/// Members of the product's organisation and operators. Only pending or active products can
/// be edited (else 409). Absent fields are left unchanged. Once the product is active, a move
/// to production or a role it does not hold yet waits for an operator's decision as its
/// `pending_change` (202); the rest applies at once. Every change is audited with its old and
/// new values.
#[utoipa::path(patch, path = "/api/v1/software/{software_id}", tag = "software", operation_id = "updateSoftware",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    request_body = Changes,
    responses((status = 200, description = "The product as updated.", body = Software),
        (status = 202, description = "Saved; part of the edit waits for an operator's decision (see pending_change).", body = Software),
        (status = 409, description = "The product cannot be edited in its status.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn update(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
    body: web::Json<Changes>,
) -> Result<HttpResponse, AppError> {
    let edited = software::update(&state, actor, path.into_inner(), body.into_inner()).await?;
    let mut response = if edited.held {
        HttpResponse::Accepted()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(edited.product))
}

/// Approve or reject the pending change
///
/// Operators only. Approving applies the environment and roles asked for; rejecting needs a
/// reason (422 without). 409 when no change waits.
#[utoipa::path(post, path = "/api/v1/software/{software_id}/changes/{action}", tag = "software", operation_id = "decideChange",
    params(("software_id" = SoftwareId, Path, description = "The product."),
        ("action" = String, Path, description = "`approve` or `reject`.", pattern = "^(approve|reject)$")),
    request_body(content = Option<ReasonBody>, description = "Why (required to reject)."),
    responses((status = 200, description = "The product.", body = Software),
        (status = 403, description = "Not an operator.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No change waits, or it changed meanwhile.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn decide_change(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(SoftwareId, String)>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let decision = if action == "approve" {
        ChangeDecision::Approve
    } else {
        ChangeDecision::Reject
    };
    let reason = body.unwrap_or_default().reason;
    let product = software::decide_change(&state, actor, id, decision, reason).await?;
    Ok(HttpResponse::Ok().json(product))
}

/// Withdraw the pending change
///
/// Members of the organisation and operators; 409 when no change waits.
#[utoipa::path(delete, path = "/api/v1/software/{software_id}/changes", tag = "software", operation_id = "withdrawChange",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    responses((status = 200, description = "The product.", body = Software),
        (status = 409, description = "No change waits.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn withdraw_change(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
) -> Result<HttpResponse, AppError> {
    let product = software::decide_change(
        &state,
        actor,
        path.into_inner(),
        ChangeDecision::Withdraw,
        None,
    )
    .await?;
    Ok(HttpResponse::Ok().json(product))
}

/// Decide on a software product
///
/// Operators only; the same decisions as for organisations. Approving needs an active
/// organisation. Its certificates follow the decision.
#[utoipa::path(post, path = "/api/v1/software/{software_id}/{action}", tag = "software", operation_id = "decideSoftware",
    params(("software_id" = SoftwareId, Path, description = "The product."),
        ("action" = crate::model::Transition, Path, description = "The decision.")),
    request_body(content = Option<ReasonBody>, description = "Why (optional body)."),
    responses((status = 200, description = "The product after the decision.", body = Software),
        (status = 403, description = "Not an operator.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from its status, or decided meanwhile.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn transition(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(SoftwareId, String)>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let transition = transition_of(&action)?;
    let reason = body.unwrap_or_default().reason;
    let product = software::transition(&state, actor, id, transition, reason).await?;
    Ok(HttpResponse::Ok().json(product))
}

/// Get a software statement assertion
///
/// Members of the organisation and operators, for an active product of an active
/// organisation (else 409, saying why). Every call signs a new statement with a new `jti`,
/// recorded, audited and logged in the transparency log before it is returned; the `Link`
/// header names its inclusion proof.
#[utoipa::path(post, path = "/api/v1/software/{software_id}/ssa", tag = "software", operation_id = "issueSsa",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    responses((status = 201, description = "The signed statement (a compact JWS).", body = String, content_type = "application/jwt",
            headers(("Link" = String, description = "Its inclusion proof in the transparency log (rel `https://c2sp.org/tlog-proof`), served a moment after issuance."))),
        (status = 409, description = "The product or its organisation is not active.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn issue_ssa(
    state: web::Data<Directory>,
    caller: TokenOrClient,
    path: web::Path<SoftwareId>,
) -> Result<HttpResponse, AppError> {
    // A person's token is authenticated in the same database call as the statement's basis;
    // a product's token (DPoP) first, on its own.
    let caller = match caller {
        TokenOrClient::Token(token) => Caller::Token(token),
        TokenOrClient::Client(actor) => Caller::Actor(actor),
    };
    let issued = statements::issue(&state, caller, path.into_inner()).await?;
    let mut response = HttpResponse::Created();
    response
        .content_type("application/jwt")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if state.config.transparency_log {
        let proof =
            crate::services::transparency::proof_uri(&state.public_url, issued.jwt.as_bytes());
        let rel = crate::services::transparency::PROOF_REL;
        response.insert_header((header::LINK, format!("<{proof}>; rel=\"{rel}\"")));
    }
    Ok(response.body(issued.jwt))
}

/// Publish the software's entity configuration
///
/// OpenID Federation: the product's own entity configuration, which the directory then hosts
/// at the product's entity identifier (`{directory}/federation/software/{software_id}`, its
/// `/.well-known/openid-federation` below that). It must be signed (PS256 or ES256,
/// `typ` `entity-statement+jwt`) by a live key of the product's keystore, so the directory
/// never signs as the product: `iss` and `sub` the entity identifier, that key in its `jwks`,
/// `authority_hints` naming the directory, valid at most 366 days, with
/// `openid_relying_party` or `oauth_client` metadata. Replaces the one published before.
#[utoipa::path(put, path = "/api/v1/software/{software_id}/entity-configuration", tag = "federation", operation_id = "putEntityConfiguration",
    params(("software_id" = SoftwareId, Path, description = "The software product.")),
    request_body(content = String, content_type = "application/entity-statement+jwt", description = "The signed entity configuration."),
    responses((status = 204, description = "Published."),
        (status = 409, description = "The product or its organisation is not active.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/entity-statement+jwt.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The entity configuration is refused, with what is wrong.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn put_entity_configuration(
    req: actix_web::HttpRequest,
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let subject = crate::services::federation::Subject::Software(path.into_inner());
    publish_entity_configuration(&req, &state, actor, subject, &body).await
}

/// A product's own entity identifier, or `null` for the directory's.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntityIdentifierInput {
    /// Where its owner hosts its entity configuration (`{entity_id}/.well-known/openid-federation`).
    #[schema(format = Uri)]
    entity_id: Option<String>,
}

/// The software's federation entity identifier
///
/// The one its owner registered, or the one the directory gives it
/// (`{directory}/federation/software/{software_id}`). Members and operators.
#[utoipa::path(get, path = "/api/v1/software/{software_id}/entity-identifier", tag = "federation", operation_id = "getEntityIdentifier",
    params(("software_id" = SoftwareId, Path, description = "The software product.")),
    responses((status = 200, description = "Its entity identifier.", body = crate::federation::EntityIdentifier),
        (status = 404, description = "No such product, or not one the caller may see.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn entity_identifier(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
) -> Result<HttpResponse, AppError> {
    let id =
        crate::services::federation::entity_identifier(&state, actor, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(id))
}

/// Register the software's own entity identifier
///
/// OpenID Federation, for a product whose owner hosts its entity configuration: the directory
/// fetches `{entity_id}/.well-known/openid-federation` (https, a public address, no redirects)
/// and registers the identifier only if that configuration is one it would host (signed by a
/// live key of the product's keystore, `iss` and `sub` the identifier, `authority_hints`
/// naming the directory, `openid_relying_party` or `oauth_client` metadata). From then on the
/// directory's statements, list, resolve and trust marks name the product by it, and resolve
/// fetches its configuration from there. `null` goes back to the directory's identifier.
#[utoipa::path(put, path = "/api/v1/software/{software_id}/entity-identifier", tag = "federation", operation_id = "setEntityIdentifier",
    params(("software_id" = SoftwareId, Path, description = "The software product.")),
    request_body = EntityIdentifierInput,
    responses((status = 200, description = "Its entity identifier now.", body = crate::federation::EntityIdentifier),
        (status = 409, description = "The product or its organisation is not active, or another product registered that identifier.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an identifier it may register, or its entity configuration cannot be read or is refused, with what is wrong.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn set_entity_identifier(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
    body: web::Json<EntityIdentifierInput>,
) -> Result<HttpResponse, AppError> {
    let id = crate::services::federation::set_entity_identifier(
        &state,
        actor,
        path.into_inner(),
        body.into_inner().entity_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(id))
}

/// Publishes the subject's entity configuration from the body of an upload
/// (`application/entity-statement+jwt`, UTF-8): `204`.
pub(super) async fn publish_entity_configuration(
    req: &actix_web::HttpRequest,
    state: &web::Data<Directory>,
    actor: crate::model::Actor,
    subject: crate::services::federation::Subject,
    body: &[u8],
) -> Result<HttpResponse, AppError> {
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !media.starts_with(crate::federation::ENTITY_STATEMENT_TYPE) {
        return Err(AppError::UnsupportedMediaType(format!(
            "send the entity configuration as {}",
            crate::federation::ENTITY_STATEMENT_TYPE
        )));
    }
    let jwt = String::from_utf8(body.to_vec())
        .map_err(|_| AppError::BadRequest("the entity configuration is not UTF-8".into()))?;
    crate::services::federation::put_entity_configuration(state, actor, subject, jwt).await?;
    Ok(HttpResponse::NoContent().finish())
}

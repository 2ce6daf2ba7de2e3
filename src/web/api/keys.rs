//! Participant keys of software products and organisations.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Items, created};
use crate::model::keys::{KeyOwner, ParticipantKey};
use crate::model::{Actor, Kid, OrgId, SoftwareId};
use crate::services::{Directory, keystore};
use crate::web::auth::ApiUser;
use crate::web::error::{AppError, Problem};
use crate::web::segment;

/// A public key to publish.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyUpload {
    /// A public JWK: RSA of 2048 to 8192 bits (odd modulus, odd exponent), or EC on P-256 or P-384; no private members.
    /// Without a `kid`, its RFC 7638 thumbprint becomes one.
    #[schema(value_type = JwkShape)]
    jwk: serde_json::Value,
}

/// The members of a public JWK that the document can state; whether the numbers make a usable
/// key is checked on upload (422 with what is wrong).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a shape for the OpenAPI document")]
pub(crate) struct JwkShape {
    #[schema(pattern = "^(RSA|EC)$")]
    kty: String,
    #[schema(max_length = 128)]
    kid: Option<String>,
    #[schema(pattern = "^sig$")]
    r#use: Option<String>,
    #[schema(pattern = "^(PS256|PS384|PS512|RS256|ES256|ES384)$")]
    alg: Option<String>,
    /// RSA: the modulus (base64url).
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    n: Option<String>,
    /// RSA: the public exponent (base64url).
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    e: Option<String>,
    /// EC: the curve.
    #[schema(pattern = "^(P-256|P-384)$")]
    crv: Option<String>,
    /// EC: the point (base64url).
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    x: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    y: Option<String>,
}

async fn list(
    state: &web::Data<Directory>,
    actor: Actor,
    owner: KeyOwner,
) -> Result<HttpResponse, AppError> {
    let keys = keystore::list(state, actor, owner).await?;
    Ok(HttpResponse::Ok().json(Items::of(keys)))
}

async fn upload(
    state: &web::Data<Directory>,
    actor: Actor,
    owner: KeyOwner,
    body: KeyUpload,
    location: String,
) -> Result<HttpResponse, AppError> {
    let key = keystore::upload(state, actor, owner, body.jwk).await?;
    Ok(created(
        format!("{location}/{}", segment(key.kid.as_str())),
        &key,
    ))
}

async fn remove(
    state: &web::Data<Directory>,
    actor: Actor,
    owner: KeyOwner,
    kid: String,
) -> Result<HttpResponse, AppError> {
    keystore::remove(state, actor, owner, Kid::from_trusted(kid)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A software product's keys
///
/// Live and revoked, oldest first; members of the organisation and operators.
#[utoipa::path(get, path = "/api/v1/software/{software_id}/keys", tag = "keys", operation_id = "listSoftwareKeys",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    responses((status = 200, description = "Its keys.", body = Items<ParticipantKey>)))]
pub(super) async fn list_software_keys(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
) -> Result<HttpResponse, AppError> {
    list(&state, actor, KeyOwner::Software(path.into_inner())).await
}

/// Publish a key of a software product
///
/// Members of the organisation and operators, for an active product of an active
/// organisation (else 409). The key is published at once in
/// `/keystore/{org_id}/{software_id}.jwks`. A duplicate `kid` or key, or a 21st live key, gets
/// 409; a private, symmetric, weak or malformed key 422.
#[utoipa::path(post, path = "/api/v1/software/{software_id}/keys", tag = "keys", operation_id = "uploadSoftwareKey",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    request_body = KeyUpload,
    responses((status = 201, description = "The key as published.", body = ParticipantKey,
            headers(("Location" = String, description = "The key's URL, its kid percent-encoded."))),
        (status = 409, description = "The product may not get keys, or the key is a duplicate or one too many.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn upload_software_key(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
    body: web::Json<KeyUpload>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let location = format!("/api/v1/software/{id}/keys");
    upload(
        &state,
        actor,
        KeyOwner::Software(id),
        body.into_inner(),
        location,
    )
    .await
}

/// Remove a key of a software product
///
/// It moves to `/keystore/{org_id}/revoked/{software_id}.jwks`. Allowed whatever the
/// product's status.
#[utoipa::path(delete, path = "/api/v1/software/{software_id}/keys/{kid}", tag = "keys", operation_id = "removeSoftwareKey",
    params(("software_id" = SoftwareId, Path, description = "The product."), ("kid" = String, Path, description = "The key's kid (percent-encoded).")),
    responses((status = 204, description = "Moved to the revoked set.")))]
pub(super) async fn remove_software_key(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(SoftwareId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, kid) = path.into_inner();
    remove(&state, actor, KeyOwner::Software(id), kid).await
}

/// An organisation's own keys
///
/// Live and revoked, oldest first; members and operators.
#[utoipa::path(get, path = "/api/v1/organisations/{org_id}/keys", tag = "keys", operation_id = "listOrganisationKeys",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    responses((status = 200, description = "Its keys.", body = Items<ParticipantKey>)))]
pub(super) async fn list_org_keys(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, AppError> {
    list(&state, actor, KeyOwner::Organisation(path.into_inner())).await
}

/// Publish a key of an organisation
///
/// Admins of an active organisation and operators (developers get 403). Published at once
/// in `/keystore/{org_id}/{org_id}.jwks`.
#[utoipa::path(post, path = "/api/v1/organisations/{org_id}/keys", tag = "keys", operation_id = "uploadOrganisationKey",
    params(("org_id" = OrgId, Path, description = "The organisation.")),
    request_body = KeyUpload,
    responses((status = 201, description = "The key as published.", body = ParticipantKey,
            headers(("Location" = String, description = "The key's URL, its kid percent-encoded."))),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organisation may not get keys, or the key is a duplicate or one too many.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn upload_org_key(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<OrgId>,
    body: web::Json<KeyUpload>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let location = format!("/api/v1/organisations/{id}/keys");
    upload(
        &state,
        actor,
        KeyOwner::Organisation(id),
        body.into_inner(),
        location,
    )
    .await
}

/// Remove a key of an organisation
///
/// Admins and operators; it moves to `/keystore/{org_id}/revoked/{org_id}.jwks`.
#[utoipa::path(delete, path = "/api/v1/organisations/{org_id}/keys/{kid}", tag = "keys", operation_id = "removeOrganisationKey",
    params(("org_id" = OrgId, Path, description = "The organisation."), ("kid" = String, Path, description = "The key's kid (percent-encoded).")),
    responses((status = 204, description = "Moved to the revoked set."),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn remove_org_key(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<(OrgId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, kid) = path.into_inner();
    remove(&state, actor, KeyOwner::Organisation(id), kid).await
}

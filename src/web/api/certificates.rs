//! Certificates of software products: issuance from CSRs, lists, revocation.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Items, created};
use crate::model::certificate::CertType;
use crate::model::certificate::{Certificate, Issued};
use crate::model::{Serial, SoftwareId};
use crate::services::{Directory, certificates};
use crate::web::auth::ApiUser;
use crate::web::error::{AppError, Problem};

/// A certificate request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificateRequest {
    /// `transport` or `signing`.
    #[serde(rename = "type")]
    #[schema(value_type = crate::model::certificate::CertType)]
    cert_type: String,
    /// One PEM certificate signing request, at most 16 KiB.
    #[schema(max_length = 16384)]
    csr: String,
}

/// Issue a certificate from a CSR
///
/// Members of the organisation and operators, for an active product of an active
/// organisation (else 409). Only the CSR's public key is used; the subject, extensions and
/// validity come from the directory. A bad CSR gets 422 with a detail starting `csr:`.
#[utoipa::path(post, path = "/api/v1/software/{software_id}/certificates", tag = "certificates", operation_id = "issueCertificate",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    request_body = CertificateRequest,
    responses((status = 201, description = "The certificate, its chain and what the directory changed.", body = Issued,
            headers(("Location" = String, description = "The certificate's URL."))),
        (status = 409, description = "The product or its organisation is not active.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn issue(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
    body: web::Json<CertificateRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let issued = certificates::issue(
        &state,
        actor,
        path.into_inner(),
        CertType::parse(&body.cert_type)?,
        body.csr,
    )
    .await?;
    Ok(created(
        format!("/api/v1/certificates/{}", issued.certificate.serial),
        &issued,
    ))
}

/// A product's certificates
///
/// Newest first; members of the organisation and operators.
#[utoipa::path(get, path = "/api/v1/software/{software_id}/certificates", tag = "certificates", operation_id = "listCertificates",
    params(("software_id" = SoftwareId, Path, description = "The product.")),
    responses((status = 200, description = "Its certificates.", body = Items<Certificate>)))]
pub(super) async fn list(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<SoftwareId>,
) -> Result<HttpResponse, AppError> {
    let list = certificates::list(&state, actor, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Items::of(list)))
}

/// One certificate
///
/// Members of its organisation and operators; anyone else gets 404.
#[utoipa::path(get, path = "/api/v1/certificates/{serial}", tag = "certificates", operation_id = "getCertificate",
    params(("serial" = Serial, Path, description = "The serial, hexadecimal (any case).")),
    responses((status = 200, description = "The certificate.", body = Certificate)))]
pub(super) async fn get(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let serial: Serial = path.into_inner().parse()?;
    let cert = certificates::get(&state, actor, serial).await?;
    Ok(HttpResponse::Ok().json(cert))
}

/// Why a certificate is revoked.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationBody {
    /// An RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded,
    /// cessationOfOperation or privilegeWithdrawn.
    #[schema(
        value_type = String,
        pattern = "^(unspecified|keyCompromise|affiliationChanged|superseded|cessationOfOperation|privilegeWithdrawn)$"
    )]
    reason: String,
}

/// Revoke a certificate
///
/// Members of the owner's organisation and operators. Revocation is final (409 when already
/// revoked); the CRL and OCSP show it at once. A revoked signing certificate's key moves to
/// the revoked set.
#[utoipa::path(post, path = "/api/v1/certificates/{serial}/revoke", tag = "certificates", operation_id = "revokeCertificate",
    params(("serial" = Serial, Path, description = "The serial, hexadecimal (any case).")),
    request_body = RevocationBody,
    responses((status = 200, description = "The certificate, revoked.", body = Certificate),
        (status = 409, description = "Already revoked.", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn revoke(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    path: web::Path<String>,
    body: web::Json<RevocationBody>,
) -> Result<HttpResponse, AppError> {
    let serial: Serial = path.into_inner().parse()?;
    let cert = certificates::revoke(&state, actor, None, serial, body.into_inner().reason).await?;
    Ok(HttpResponse::Ok().json(cert))
}

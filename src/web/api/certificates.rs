//! Certificates of software products: issuance from CSRs, lists, revocation.

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::{Items, created};
use crate::model::certificate::CertType;
use crate::model::certificate::{Certificate, Issued, Validation};
use crate::model::{Error, Serial, SoftwareId, invalid};
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

/// A certificate to validate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidationRequest {
    /// The certificate a client presented, PEM; a chain may follow it (only the directory's
    /// own CA is trusted, whatever the chain says). At most 64 KiB.
    #[schema(max_length = 65536)]
    certificate: String,
}

/// Validate a certificate
///
/// What the directory knows of a certificate a bank was presented: whether its CA signed
/// it, its status (`good`, `hold`, `revoked` with reason and time, or `unknown` when it is
/// not on record), its validity now, its type, the organisation and product it was issued
/// to with their statuses, its transparency log index, and `valid` when all of these let a
/// bank accept it. For operators, members of an active organisation and machine clients
/// with `directory:read`. What is not a certificate gets 422; more than
/// `validations_per_minute` calls by one caller get 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/certificates/validate", tag = "certificates", operation_id = "validateCertificate",
    request_body = ValidationRequest,
    responses((status = 200, description = "What the directory knows of it.", body = Validation),
        (status = 403, description = "Not an operator, a member of an active organisation or a machine client.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a certificate.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many validations by this caller.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait.")))))]
pub(super) async fn validate(
    state: web::Data<Directory>,
    ApiUser(actor): ApiUser,
    body: web::Json<ValidationRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    if let Err(wait) = state.validations.check(&actor) {
        let seconds = wait.as_secs() + 1;
        let mut response = AppError::from(Error::TooManyRequests(format!(
            "too many certificate validations; try again in {seconds} seconds"
        )))
        .error_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        return Ok(response);
    }
    if body.certificate.len() > 65536 {
        return Err(invalid("certificate", "longer than 64 KiB").into());
    }
    let validation = certificates::validate(&state, actor, body.certificate).await?;
    Ok(HttpResponse::Ok().json(validation))
}

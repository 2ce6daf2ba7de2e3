//! The OCSP responder (RFC 6960): good, revoked (with time and reason; a held certificate is
//! revoked with certificateHold) or unknown, signed by the issuing CA, the request nonce
//! echoed, thisUpdate and nextUpdate set.

use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Decode, Encode};
use diesel::prelude::*;
use rcgen::SigningKey;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, ResponderId,
    ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::db::DbConnection;
use crate::db::schema::certificates;
use crate::error::AppError;

use super::Ca;

/// Signed responses to nonce-less requests, reused for a few seconds: a relying party that
/// polls gets the same signed answer instead of costing a signature each time. Cleared on
/// every local status change; other instances' changes show within `TTL`.
#[derive(Default)]
pub struct ResponseCache {
    entries: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Signed>>,
}

/// When a response was signed, and its DER.
type Signed = (std::time::Instant, Vec<u8>);

impl ResponseCache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX_ENTRIES: usize = 10_000;

    pub fn get(&self, request: &[u8]) -> Option<Vec<u8>> {
        let entries = self.entries.lock().ok()?;
        let (at, body) = entries.get(request)?;
        (at.elapsed() < Self::TTL).then(|| body.clone())
    }

    pub fn put(&self, request: &[u8], response: &[u8]) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
                if entries.len() >= Self::MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(
                request.to_vec(),
                (std::time::Instant::now(), response.to_vec()),
            );
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// True when a DER OCSP request carries a nonce (its answer must then be signed afresh).
pub fn has_nonce(request: &[u8]) -> bool {
    OcspRequest::from_der(request).map_or(true, |r| r.nonce().is_some())
}

const SHA1: &str = "1.3.14.3.2.26";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

/// The DER response to a DER request; malformed requests get `malformedRequest` (and
/// `false`, so the handler can answer 400).
pub fn respond(
    conn: &mut DbConnection,
    ca: &Ca,
    request: &[u8],
    validity_secs: u64,
) -> Result<(Vec<u8>, bool), AppError> {
    let Ok(request) = OcspRequest::from_der(request) else {
        return Ok((encode(&OcspResponse::malformed_request())?, false));
    };
    if request.tbs_request.request_list.is_empty() || request.tbs_request.request_list.len() > 20 {
        return Ok((encode(&OcspResponse::malformed_request())?, false));
    }
    let now = std::time::SystemTime::now();
    let this_update = time_of(now)?;
    let next_update = time_of(now + std::time::Duration::from_secs(validity_secs))?;
    let mut responses = vec![];
    for single in &request.tbs_request.request_list {
        let id = &single.req_cert;
        let oid = id.hash_algorithm.oid.to_string();
        let ours = match oid.as_str() {
            SHA1 => Some(ca.ocsp_hashes(false)),
            SHA256 => Some(ca.ocsp_hashes(true)),
            _ => None,
        };
        let issued_here = ours.is_some_and(|(name, key)| {
            id.issuer_name_hash.as_bytes() == name && id.issuer_key_hash.as_bytes() == key
        });
        let status = if issued_here {
            let serial = hex::encode_upper(id.serial_number.as_bytes());
            status_of(conn, &serial)?
        } else {
            CertStatus::unknown()
        };
        responses.push(SingleResponse {
            cert_id: id.clone(),
            cert_status: status,
            this_update,
            next_update: Some(next_update),
            single_extensions: None,
        });
    }
    let extensions = match request.nonce() {
        Some(nonce) => {
            let ext = x509_cert::ext::Extension {
                extn_id: const_oid_nonce(),
                critical: false,
                extn_value: OctetString::new(encode(&nonce)?)
                    .map_err(|e| AppError::Unexpected(anyhow::anyhow!("nonce: {e}")))?,
            };
            Some(vec![ext])
        }
        None => None,
    };
    let tbs = ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(
            OctetString::new(ca.key_hash())
                .map_err(|e| AppError::Unexpected(anyhow::anyhow!("key hash: {e}")))?,
        ),
        produced_at: this_update,
        responses,
        response_extensions: extensions,
    };
    let tbs_der = encode(&tbs)?;
    let signature = ca
        .issuer
        .key()
        .sign(&tbs_der)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("signing an OCSP response: {e}")))?;
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: der::oid::ObjectIdentifier::new_unwrap(ECDSA_WITH_SHA256),
            parameters: None,
        },
        signature: BitString::from_bytes(&signature)
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("signature: {e}")))?,
        certs: None,
    };
    let response = OcspResponse::successful(basic)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("OCSP response: {e}")))?;
    Ok((encode(&response)?, true))
}

fn const_oid_nonce() -> der::oid::ObjectIdentifier {
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2")
}

fn encode(value: &impl Encode) -> Result<Vec<u8>, AppError> {
    value
        .to_der()
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("DER encoding: {e}")))
}

fn time_of(at: std::time::SystemTime) -> Result<OcspGeneralizedTime, AppError> {
    GeneralizedTime::from_system_time(at)
        .map(OcspGeneralizedTime)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("time: {e}")))
}

fn crl_reason(name: Option<&str>) -> CrlReason {
    match name.unwrap_or("") {
        "keyCompromise" => CrlReason::KeyCompromise,
        "affiliationChanged" => CrlReason::AffiliationChanged,
        "superseded" => CrlReason::Superseded,
        "cessationOfOperation" => CrlReason::CessationOfOperation,
        "certificateHold" => CrlReason::CertificateHold,
        "privilegeWithdrawn" => CrlReason::PrivilegeWithdrawn,
        _ => CrlReason::Unspecified,
    }
}

fn status_of(conn: &mut DbConnection, serial: &str) -> Result<CertStatus, AppError> {
    let row: Option<(String, Option<String>, Option<time::PrimitiveDateTime>)> =
        certificates::table
            .find(serial)
            .select((
                certificates::status,
                certificates::revocation_reason,
                certificates::revoked_at,
            ))
            .first(conn)
            .optional()?;
    Ok(match row {
        None => CertStatus::unknown(),
        Some((status, _, _)) if status == "good" => CertStatus::Good(Null),
        Some((_, reason, at)) => {
            let at = at
                .map(|t| t.assume_utc())
                .unwrap_or_else(time::OffsetDateTime::now_utc);
            let when = time_of(std::time::SystemTime::from(at))?;
            CertStatus::Revoked(RevokedInfo {
                revocation_time: when,
                revocation_reason: Some(crl_reason(reason.as_deref())),
            })
        }
    })
}

//! The OCSP responder (RFC 6960): good, revoked (with time and reason; a held certificate is
//! revoked with certificateHold) or unknown, signed by the issuing CA, the request nonce
//! echoed, thisUpdate and nextUpdate set.

use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Decode, Encode};
use rcgen::SigningKey;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, ResponderId,
    ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::model::certificate::{CertStatus as State, RevocationReason, RevocationState};
use crate::model::{Error, Serial, unexpected};

use super::Ca;
use super::ca::IssuingCa;

/// What the directory knows of a certificate it issued; `None` for a serial it never issued.
pub type Known = Option<RevocationState>;

/// Signed responses to nonce-less requests, reused for a few seconds: a relying party that
/// polls gets the same signed answer instead of costing a signature each time. Cleared on
/// every local status change; other instances' changes show within `TTL`.
pub struct ResponseCache {
    entries: moka::sync::Cache<Vec<u8>, Vec<u8>>,
}

impl ResponseCache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX_ENTRIES: u64 = 10_000;

    pub fn new() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(Self::MAX_ENTRIES)
                .time_to_live(Self::TTL)
                .build(),
        }
    }

    pub fn get(&self, request: &[u8]) -> Option<Vec<u8>> {
        self.entries.get(request)
    }

    pub fn put(&self, request: &[u8], response: &[u8]) {
        self.entries.insert(request.to_vec(), response.to_vec());
    }

    /// Forgets every answer (a status changed): none kept before is served again.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self::new()
    }
}

/// True when a DER OCSP request carries a nonce (its answer must then be signed afresh).
pub fn has_nonce(request: &[u8]) -> bool {
    OcspRequest::from_der(request).map_or(true, |r| r.nonce().is_some())
}

const SHA1: &str = "1.3.14.3.2.26";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";

/// The signature algorithm of the issuing CA's key, as an OCSP response names it.
fn signature_algorithm(issuing: &IssuingCa) -> Result<AlgorithmIdentifierOwned, Error> {
    use const_oid::db::rfc5912;
    use rcgen::PublicKeyData;
    let alg = issuing.issuer.key().algorithm();
    let (oid, null_parameters) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        (rfc5912::ECDSA_WITH_SHA_256, false)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (rfc5912::ECDSA_WITH_SHA_384, false)
    } else if alg == &rcgen::PKCS_ED25519 {
        (const_oid::db::rfc8410::ID_ED_25519, false)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, true)
    } else {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "the issuing CA's key algorithm {alg:?} cannot sign OCSP responses here"
        )));
    };
    Ok(AlgorithmIdentifierOwned {
        oid,
        parameters: null_parameters.then(|| der::Any::from(Null)),
    })
}

/// Whether the certificate id names `issuing` as its issuer.
fn names(id: &x509_ocsp::CertId, issuing: &IssuingCa) -> bool {
    let ours = match id.hash_algorithm.oid.to_string().as_str() {
        SHA1 => Some(issuing.ocsp_hashes(false)),
        SHA256 => Some(issuing.ocsp_hashes(true)),
        _ => None,
    };
    ours.is_some_and(|(name, key)| {
        id.issuer_name_hash.as_bytes() == name && id.issuer_key_hash.as_bytes() == key
    })
}

/// The DER response to a DER request, signed by the issuing CA the request asks about (the
/// first it names; the current one when it names none of the directory's), with its key and
/// algorithm; `lookup` says what the directory knows of a serial that issuing CA signed.
/// Certificates of another issuer are unknown. Malformed requests get `malformedRequest`
/// (and `false`, so the handler can answer 400).
pub fn respond(
    ca: &Ca,
    request: &[u8],
    validity_secs: u64,
    mut lookup: impl FnMut(&Serial, &IssuingCa) -> Result<Known, Error>,
    at: crate::model::Timestamp,
) -> Result<(Vec<u8>, bool), Error> {
    let Ok(request) = OcspRequest::from_der(request) else {
        return Ok((encode(&OcspResponse::malformed_request())?, false));
    };
    if request.tbs_request.request_list.is_empty() || request.tbs_request.request_list.len() > 20 {
        return Ok((encode(&OcspResponse::malformed_request())?, false));
    }
    let now = std::time::SystemTime::from(at.assume_utc());
    let this_update = time_of(now)?;
    let next_update = time_of(now + std::time::Duration::from_secs(validity_secs))?;
    let responder = request
        .tbs_request
        .request_list
        .iter()
        .find_map(|single| ca.issuers().find(|i| names(&single.req_cert, i)))
        .unwrap_or(&ca.current);
    let mut responses = vec![];
    for single in &request.tbs_request.request_list {
        let id = &single.req_cert;
        let status = if names(id, responder) {
            let serial = Serial::from_bytes(id.serial_number.as_bytes());
            cert_status(lookup(&serial, responder)?)?
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
                    .map_err(|e| unexpected("nonce", e))?,
            };
            Some(vec![ext])
        }
        None => None,
    };
    let tbs = ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(
            OctetString::new(responder.key_hash()).map_err(|e| unexpected("key hash", e))?,
        ),
        produced_at: this_update,
        responses,
        response_extensions: extensions,
    };
    let tbs_der = encode(&tbs)?;
    let signature = responder
        .issuer
        .key()
        .sign(&tbs_der)
        .map_err(|e| super::signing_failed("signing an OCSP response", e))?;
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: signature_algorithm(responder)?,
        signature: BitString::from_bytes(&signature).map_err(|e| unexpected("signature", e))?,
        certs: None,
    };
    let response = OcspResponse::successful(basic).map_err(|e| unexpected("OCSP response", e))?;
    Ok((encode(&response)?, true))
}

fn const_oid_nonce() -> der::oid::ObjectIdentifier {
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2")
}

fn encode(value: &impl Encode) -> Result<Vec<u8>, Error> {
    value.to_der().map_err(|e| unexpected("DER encoding", e))
}

fn time_of(at: std::time::SystemTime) -> Result<OcspGeneralizedTime, Error> {
    GeneralizedTime::from_system_time(at)
        .map(OcspGeneralizedTime)
        .map_err(|e| unexpected("time", e))
}

/// x509-cert's name for an RFC 5280 reason, by its code.
fn crl_reason(reason: Option<RevocationReason>) -> CrlReason {
    match reason.map_or(0, RevocationReason::code) {
        1 => CrlReason::KeyCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        9 => CrlReason::PrivilegeWithdrawn,
        _ => CrlReason::Unspecified,
    }
}

fn cert_status(known: Known) -> Result<CertStatus, Error> {
    Ok(match known {
        None => CertStatus::unknown(),
        Some(RevocationState {
            status: State::Good,
            ..
        }) => CertStatus::Good(Null),
        Some(RevocationState { reason, at, .. }) => {
            let at = at
                .map(|t| t.assume_utc())
                .unwrap_or_else(time::OffsetDateTime::now_utc);
            let when = time_of(std::time::SystemTime::from(at))?;
            CertStatus::Revoked(RevokedInfo {
                revocation_time: when,
                revocation_reason: Some(crl_reason(reason)),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use openssl::hash::MessageDigest;
    use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse};
    use openssl::stack::Stack;
    use openssl::x509::X509;
    use openssl::x509::store::X509StoreBuilder;

    use super::*;

    /// A CA whose keys are P-384 signs its OCSP answers with ecdsa-with-SHA384, and OpenSSL
    /// verifies them with the issuing certificate.
    #[test]
    fn the_response_is_signed_with_the_ca_keys_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        let ca = super::super::ca::init_with(dir.path(), &rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["leaf.example".into()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x42, 0x17]));
        let leaf = params.signed_by(&leaf_key, &ca.current.issuer).unwrap();
        let leaf = X509::from_der(leaf.der()).unwrap();
        let issuing = X509::from_der(&ca.current.der).unwrap();
        let root = X509::from_pem(ca.root_pem.as_bytes()).unwrap();

        let id = OcspCertId::from_cert(MessageDigest::sha1(), &leaf, &issuing).unwrap();
        let mut request = OcspRequest::new().unwrap();
        request.add_id(id).unwrap();
        let request = request.to_der().unwrap();
        let mut asked = vec![];
        let at = crate::model::Clock::now(&crate::model::SystemClock);
        let (der, ok) = respond(
            &ca,
            &request,
            300,
            |serial, _| {
                asked.push(serial.clone());
                Ok(Some(RevocationState {
                    status: State::Good,
                    reason: None,
                    at: None,
                }))
            },
            at,
        )
        .unwrap();
        assert!(ok);
        assert_eq!(asked, [Serial::from_bytes(&[0x42, 0x17])]);

        let parsed = OcspResponse::from_der(&der).unwrap();
        let basic = parsed.basic().unwrap();
        let mut certs = Stack::new().unwrap();
        certs.push(issuing.clone()).unwrap();
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(root).unwrap();
        store.add_cert(issuing.clone()).unwrap();
        basic
            .verify(&certs, &store.build(), OcspFlag::empty())
            .expect("OpenSSL verifies the P-384 signature");
        let id = OcspCertId::from_cert(MessageDigest::sha1(), &leaf, &issuing).unwrap();
        let status = basic.find_status(&id).unwrap();
        assert_eq!(status.status, OcspCertStatus::GOOD);

        let ours = x509_ocsp::OcspResponse::from_der(&der).unwrap();
        let basic =
            BasicOcspResponse::from_der(ours.response_bytes.unwrap().response.as_bytes()).unwrap();
        assert_eq!(
            basic.signature_algorithm.oid,
            const_oid::db::rfc5912::ECDSA_WITH_SHA_384
        );
    }
}

//! Signing a CRL: the revoked and held certificates of an issuing CA, signed by it. Which number
//! it gets and when a new one is due is decided in `services::crl`.

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason as RcgenReason,
    RevokedCertParams, SerialNumber,
};
use sha2::{Digest, Sha256};

use super::ca::IssuingCa;
use crate::model::certificate::RevocationReason;
use crate::model::{Error, Serial, Timestamp};

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub serial: Serial,
    pub reason: Option<RevocationReason>,
    pub revoked_at: Option<Timestamp>,
}

/// A digest of the entries: a new CRL is due when it changes.
pub fn content_hash(entries: &[Entry]) -> String {
    hex::encode(Sha256::digest(format!("{entries:?}").as_bytes()))
}

/// rcgen's name for an RFC 5280 reason, by its code.
fn rcgen_reason(reason: RevocationReason) -> RcgenReason {
    match reason.code() {
        1 => RcgenReason::KeyCompromise,
        3 => RcgenReason::AffiliationChanged,
        4 => RcgenReason::Superseded,
        5 => RcgenReason::CessationOfOperation,
        6 => RcgenReason::CertificateHold,
        9 => RcgenReason::PrivilegeWithdrawn,
        _ => RcgenReason::Unspecified,
    }
}

/// Signs CRL number `number`, valid from `this_update` to `next_update`, listing `entries`.
pub fn sign(
    issuing: &IssuingCa,
    number: i64,
    this_update: time::OffsetDateTime,
    next_update: time::OffsetDateTime,
    entries: &[Entry],
) -> Result<Vec<u8>, Error> {
    let revoked_certs = entries
        .iter()
        .map(|entry| RevokedCertParams {
            serial_number: SerialNumber::from_slice(&entry.serial.to_bytes()),
            revocation_time: entry.revoked_at.map_or(this_update, |t| t.assume_utc()),
            reason_code: entry.reason.map(rcgen_reason),
            invalidity_date: None,
        })
        .collect();
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let signed = params
        .signed_by(&issuing.issuer)
        .map_err(|e| super::signing_failed("signing the CRL", e))?;
    Ok(signed.der().to_vec())
}

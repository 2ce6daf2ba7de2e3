//! Certificates the directory's CA issues: their two profiles, their states, and the RFC 5280
//! revocation reasons (one table, which the CRL and OCSP take their codes from).

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::ids::{OrgId, Serial, SoftwareId};
use super::invalid;
use super::time::{Timestamp, rfc3339};

/// The two certificate profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertType {
    /// Mutual TLS with banks: digitalSignature, keyEncipherment; clientAuth, serverAuth.
    Transport,
    /// Request signing: digitalSignature, nonRepudiation; the key is published in the
    /// software's keystore.
    Signing,
}

impl CertType {
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim() {
            "transport" => Ok(Self::Transport),
            "signing" => Ok(Self::Signing),
            other => Err(invalid(
                "type",
                format!("{other:?} is not transport or signing"),
            )),
        }
    }

    pub fn from_db(value: &str) -> Result<Self> {
        Self::parse(value).map_err(|_| corrupt("certificate type", value))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::Signing => "signing",
        }
    }
}

/// Where a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    /// Valid.
    Good,
    /// On hold while its software or organisation is suspended (published as revoked with
    /// reason certificateHold); released on reinstatement.
    Hold,
    /// Revoked for good.
    Revoked,
}

impl CertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Hold => "hold",
            Self::Revoked => "revoked",
        }
    }

    pub fn from_db(value: &str) -> Result<Self> {
        match value {
            "good" => Ok(Self::Good),
            "hold" => Ok(Self::Hold),
            "revoked" => Ok(Self::Revoked),
            other => Err(corrupt("certificate status", other)),
        }
    }
}

/// An RFC 5280 (section 5.3.1) revocation reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    /// Set by the directory while the owner is suspended.
    CertificateHold,
    PrivilegeWithdrawn,
}

/// The reasons: name, RFC 5280 `CRLReason` code, and whether a member or operator may give
/// it (certificateHold is the directory's own, while an owner is suspended).
const REASONS: [(RevocationReason, &str, u8, bool); 7] = [
    (RevocationReason::Unspecified, "unspecified", 0, true),
    (RevocationReason::KeyCompromise, "keyCompromise", 1, true),
    (
        RevocationReason::AffiliationChanged,
        "affiliationChanged",
        3,
        true,
    ),
    (RevocationReason::Superseded, "superseded", 4, true),
    (
        RevocationReason::CessationOfOperation,
        "cessationOfOperation",
        5,
        true,
    ),
    (
        RevocationReason::CertificateHold,
        "certificateHold",
        6,
        false,
    ),
    (
        RevocationReason::PrivilegeWithdrawn,
        "privilegeWithdrawn",
        9,
        true,
    ),
];

impl RevocationReason {
    fn entry(self) -> (RevocationReason, &'static str, u8, bool) {
        REASONS
            .into_iter()
            .find(|(reason, ..)| *reason == self)
            .unwrap_or(REASONS[0])
    }

    /// The name RFC 5280 gives it (as the API and the database spell it).
    pub fn as_str(self) -> &'static str {
        self.entry().1
    }

    /// The `CRLReason` code, for the CRL and OCSP.
    pub fn code(self) -> u8 {
        self.entry().2
    }

    /// The reasons a member or operator may give, in the order the portal offers them.
    pub fn given() -> impl Iterator<Item = RevocationReason> {
        REASONS
            .into_iter()
            .filter(|(.., given)| *given)
            .map(|(reason, ..)| reason)
    }

    /// A reason a member or operator gives (any case).
    pub fn parse_given(value: &str) -> Result<Self> {
        Self::given()
            .find(|r| r.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| {
                invalid(
                    "reason",
                    format!(
                        "{value:?} is not one of {}",
                        Self::given()
                            .map(Self::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    pub fn from_db(value: &str) -> Result<Self> {
        REASONS
            .into_iter()
            .find(|(_, name, ..)| *name == value)
            .map(|(reason, ..)| reason)
            .ok_or_else(|| corrupt("revocation reason", value))
    }
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::Unexpected(anyhow::anyhow!("unknown {what} {value:?} stored"))
}

/// A certificate's revocation state, as the CRL and OCSP carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationState {
    pub status: CertStatus,
    /// Why it is revoked or held.
    pub reason: Option<RevocationReason>,
    /// Since when.
    pub at: Option<Timestamp>,
}

/// An issued certificate as the API and the portal show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Certificate {
    pub serial: Serial,
    pub organisation_id: OrgId,
    pub software_id: SoftwareId,
    #[serde(rename = "type")]
    pub cert_type: CertType,
    /// The subject, RFC 4514 (as `openssl x509 -subject -nameopt RFC2253` prints it).
    pub subject: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_before: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: Timestamp,
    /// The certificate, PEM.
    #[serde(rename = "certificate")]
    pub pem: String,
    pub status: CertStatus,
    pub revocation_reason: Option<RevocationReason>,
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A new certificate with its chain and what the directory changed in the request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Issued {
    #[serde(flatten)]
    pub certificate: Certificate,
    /// The issuing CA and the root, PEM.
    pub chain: String,
    /// True when the CSR asked for another subject than the one the directory assigns.
    pub subject_replaced: bool,
    /// What the directory changed, for people.
    pub notes: Vec<String>,
    /// The certificate's index in the directory's transparency log (absent when the
    /// directory runs without its log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
    /// Its inclusion proof (C2SP tlog-proof), a moment after issuance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_proof_uri: Option<String>,
}

impl std::fmt::Display for CertType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for CertStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_names_the_reasons_and_their_rfc_5280_codes() {
        assert_eq!(RevocationReason::KeyCompromise.code(), 1);
        assert_eq!(RevocationReason::CertificateHold.code(), 6);
        assert_eq!(RevocationReason::PrivilegeWithdrawn.code(), 9);
        assert_eq!(
            RevocationReason::parse_given("KEYCOMPROMISE").unwrap(),
            RevocationReason::KeyCompromise
        );
        assert!(RevocationReason::parse_given("certificateHold").is_err());
        assert_eq!(RevocationReason::given().count(), 6);
        for (reason, name, ..) in REASONS {
            assert_eq!(RevocationReason::from_db(name).unwrap(), reason);
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(name),
                "serde spells it as the table does"
            );
        }
    }
}

/// What the directory knows of a certificate a bank was presented
/// (`POST /api/v1/certificates/validate`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Validation {
    /// True when the directory's CA signed it, it is on record, good, within its validity,
    /// and its product and organisation are active: a bank may accept it.
    pub valid: bool,
    /// Why not, for people (empty when valid).
    pub problems: Vec<String>,
    /// Whether one of the directory's issuing CAs signed it.
    pub chains_to_directory: bool,
    /// The subject of the issuing CA that signed it (RFC 4514), when one did.
    pub issuer: Option<String>,
    /// `good`, `hold`, `revoked`, or `unknown` (not on the directory's record: not signed
    /// by its CA, or signed but never issued, which the operators must hear of).
    pub status: ValidationStatus,
    pub revocation_reason: Option<RevocationReason>,
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// The serial, hexadecimal, as the directory writes it.
    pub serial: Serial,
    /// The subject, RFC 4514.
    pub subject: String,
    /// SHA-256 of the DER, hexadecimal.
    pub sha256: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_before: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: Timestamp,
    /// `valid`, `expired` or `not_yet_valid`, now.
    pub validity: Validity,
    /// Its profile, when it is on record.
    #[serde(rename = "type")]
    pub cert_type: Option<CertType>,
    /// The organisation it was issued to, when it is on record.
    pub organisation: Option<Owner<OrgId>>,
    /// The product it was issued to, when it is on record.
    pub software: Option<Owner<SoftwareId>>,
    /// Its index in the directory's transparency log, when it is logged.
    pub log_index: Option<i64>,
}

/// A certificate's revocation status, or that the directory has no record of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValidationStatus {
    Good,
    Hold,
    Revoked,
    Unknown,
}

/// Where a certificate stands in its validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    Valid,
    Expired,
    NotYetValid,
}

/// The organisation or product a certificate belongs to, and its status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Owner<Id> {
    #[schema(value_type = String)]
    pub id: Id,
    pub name: String,
    pub status: super::Status,
}

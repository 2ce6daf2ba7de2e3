//! The certificate authority's work: issuing transport and signing certificates from CSRs,
//! revocation (by members and operators, and following the status of software and
//! organisations), the CRL and the OCSP responder.

pub mod ca;
pub mod crl;
pub mod csr;
pub mod ocsp;

use diesel::prelude::*;
use rand::RngCore;
use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, KeyUsagePurpose, SerialNumber, SubjectPublicKeyInfo,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::schema::{certificates, participant_keys, software};
use crate::db::{DbConnection, write_transaction};
use crate::directory::access::{Access, Actor};
use crate::directory::audit::Event;
use crate::directory::keystore;
use crate::directory::software::Grant;
use crate::directory::{Status, now};
use crate::error::AppError;
use crate::keys::jwk::{self, PublicJwk};

pub use ca::Ca;

/// A random positive 128-bit serial: (for rcgen, as stored: upper-case hex).
pub fn random_serial() -> (SerialNumber, String) {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Positive, and no leading zero octet, so that the DER INTEGER is exactly these 16 octets.
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    (SerialNumber::from_slice(&bytes), hex::encode_upper(bytes))
}

/// The two certificate profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertType {
    /// Mutual TLS with banks: digitalSignature, keyEncipherment; clientAuth, serverAuth.
    Transport,
    /// Request signing: digitalSignature, nonRepudiation; the key is published in the
    /// software's keystore.
    Signing,
}

impl CertType {
    pub fn parse(value: &str) -> Result<Self, AppError> {
        match value.trim() {
            "transport" => Ok(Self::Transport),
            "signing" => Ok(Self::Signing),
            other => Err(AppError::Validation(format!(
                "type: {other:?} is not transport or signing"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::Signing => "signing",
        }
    }
}

/// RFC 5280 revocation reasons a member or operator may give.
pub const REASONS: [&str; 6] = [
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "privilegeWithdrawn",
];

/// An issued certificate as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = certificates)]
pub struct Certificate {
    pub serial: String,
    pub organisation_id: String,
    pub software_id: String,
    #[serde(rename = "type")]
    pub cert_type: String,
    pub subject: String,
    #[serde(with = "crate::directory::rfc3339")]
    pub not_before: time::PrimitiveDateTime,
    #[serde(with = "crate::directory::rfc3339")]
    pub not_after: time::PrimitiveDateTime,
    #[serde(rename = "certificate")]
    pub pem: String,
    /// good, hold (certificateHold) or revoked.
    pub status: String,
    pub revocation_reason: Option<String>,
    #[serde(with = "crate::directory::rfc3339::option")]
    pub revoked_at: Option<time::PrimitiveDateTime>,
    #[serde(with = "crate::directory::rfc3339")]
    pub created_at: time::PrimitiveDateTime,
}

impl Certificate {
    fn find(conn: &mut DbConnection, serial: &str) -> QueryResult<Option<Certificate>> {
        certificates::table
            .find(serial.to_ascii_uppercase())
            .select(Certificate::as_select())
            .first(conn)
            .optional()
    }
}

/// A new certificate with its chain and what the directory changed in the request.
#[derive(Debug, Serialize)]
pub struct Issued {
    #[serde(flatten)]
    pub certificate: Certificate,
    /// The issuing CA and the root, PEM.
    pub chain: String,
    /// True when the CSR asked for another subject than the one the directory assigns.
    pub subject_replaced: bool,
    pub notes: Vec<String>,
}

/// What issuing needs from the configuration.
pub struct IssueSettings<'a> {
    pub public_url: &'a str,
    pub validity_days: u32,
    pub strict_subject: bool,
}

/// The subject the directory assigns: C, O, OU = organisation id, CN = software id and
/// organizationIdentifier = the competent-authority registration (ETSI TS 119 495 style).
fn subject(
    org: &crate::directory::organisations::Organisation,
    software_id: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("C", org.country.clone()),
        ("O", org.legal_name.clone()),
        ("OU", org.id.clone()),
        ("CN", software_id.to_owned()),
        (
            "organizationIdentifier",
            format!(
                "PSD{}-{}-{}",
                org.country, org.competent_authority, org.authority_registration_id
            ),
        ),
    ]
}

const ORGANIZATION_IDENTIFIER: [u64; 4] = [2, 5, 4, 97];

fn distinguished_name(entries: &[(&'static str, String)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (kind, value) in entries {
        let ty = match *kind {
            "C" => DnType::CountryName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "CN" => DnType::CommonName,
            _ => DnType::CustomDnType(ORGANIZATION_IDENTIFIER.to_vec()),
        };
        dn.push(ty, value.clone());
    }
    dn
}

/// `C=GB, O=…, …` for display and for `tls_client_auth_subject_dn`.
fn subject_text(entries: &[(&'static str, String)]) -> String {
    entries
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// DER of an AuthorityInfoAccess extension with one OCSP access location (RFC 5280 4.2.2.1).
fn authority_info_access(ocsp_url: &str) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1
    let oid = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    let location = tlv(0x86, ocsp_url.as_bytes());
    let description = tlv(0x30, &[oid, location].concat());
    tlv(0x30, &description)
}

const AUTHORITY_INFO_ACCESS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 1];
const SUBJECT_KEY_IDENTIFIER: [u64; 4] = [2, 5, 29, 14];

/// Issues a certificate from a CSR for an active product of an active organisation, for its
/// members and operators. Signing certificates publish their key in the software's keystore.
pub fn issue(
    conn: &mut DbConnection,
    ca: &Ca,
    actor: &Actor,
    software_id: &str,
    cert_type: &str,
    csr_pem: &str,
    settings: &IssueSettings<'_>,
) -> Result<Issued, AppError> {
    let cert_type = CertType::parse(cert_type)?;
    let csr = csr::parse(csr_pem)?;
    let (product, org, _) = crate::directory::software::get(conn, actor, software_id)?;
    product
        .eligibility(org.status)
        .map_err(|why| why.refusal(Grant::Certificate))?;
    let assigned = subject(&org, &product.id);
    let requested: Vec<(String, String)> = csr.subject.clone();
    let matches = requested.is_empty()
        || requested.iter().all(|(k, v)| {
            assigned
                .iter()
                .any(|(ak, av)| ak.eq_ignore_ascii_case(k) && av == v)
        });
    let mut notes = vec![];
    if !matches {
        let asked = requested
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        if settings.strict_subject {
            return Err(AppError::Validation(format!(
                "csr: its subject {asked} differs from the one the directory assigns ({})",
                subject_text(&assigned)
            )));
        }
        notes.push(format!(
            "the CSR asked for the subject {asked}; the directory assigned {}",
            subject_text(&assigned)
        ));
    }

    let (serial, serial_hex) = random_serial();
    let issued_at = time::OffsetDateTime::now_utc();
    let not_after = issued_at + time::Duration::days(i64::from(settings.validity_days));
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&assigned);
    params.serial_number = Some(serial);
    params.not_before = issued_at - time::Duration::minutes(1);
    params.not_after = not_after;
    params.use_authority_key_identifier_extension = true;
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![format!("{}/pki/crl", settings.public_url)],
    }];
    params.custom_extensions = vec![CustomExtension::from_oid_content(
        &AUTHORITY_INFO_ACCESS,
        authority_info_access(&format!("{}/pki/ocsp", settings.public_url)),
    )];
    match cert_type {
        CertType::Transport => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ];
        }
        CertType::Signing => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ];
        }
    }
    let spki = SubjectPublicKeyInfo::from_der(&csr.spki_der)
        .map_err(|e| AppError::Validation(format!("csr: unsupported public key ({e})")))?;
    // rcgen writes a subject key identifier for CAs only; relying parties want one here too.
    let key_id = params.key_identifier(&spki);
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &SUBJECT_KEY_IDENTIFIER,
            [&[0x04, key_id.len() as u8][..], &key_id].concat(),
        ));
    let cert = params
        .signed_by(&spki, &ca.issuer)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("signing a certificate: {e}")))?;
    let der = cert.der().to_vec();
    let pem = cert.pem();

    let row = Certificate {
        serial: serial_hex.clone(),
        organisation_id: org.id.clone(),
        software_id: product.id.clone(),
        cert_type: cert_type.as_str().to_owned(),
        subject: subject_text(&assigned),
        not_before: to_primitive(issued_at - time::Duration::minutes(1)),
        not_after: to_primitive(not_after),
        pem,
        status: "good".into(),
        revocation_reason: None,
        revoked_at: None,
        created_at: now(),
    };
    write_transaction(conn, |tx| {
        diesel::insert_into(certificates::table)
            .values((
                certificates::serial.eq(&row.serial),
                certificates::organisation_id.eq(&row.organisation_id),
                certificates::software_id.eq(&row.software_id),
                certificates::cert_type.eq(&row.cert_type),
                certificates::subject.eq(&row.subject),
                certificates::not_before.eq(row.not_before),
                certificates::not_after.eq(row.not_after),
                certificates::pem.eq(&row.pem),
                certificates::status.eq(&row.status),
                certificates::created_at.eq(row.created_at),
            ))
            .execute(tx)?;
        if cert_type == CertType::Signing {
            let key = certificate_jwk(&csr.public_key, csr.jws_alg, &der)?;
            publish_certificate_key(tx, actor, &org.id, &product.id, &key, &serial_hex)?;
        }
        Event::new(actor, "certificate.issue", "certificate", &serial_hex)
            .organisation(&org.id)
            .status(None, Some("good"))
            .details(json!({"software_id": product.id, "type": cert_type.as_str(), "subject_replaced": !matches}))
            .record(tx)?;
        Ok::<_, AppError>(())
    })?;
    Ok(Issued {
        certificate: row,
        chain: ca.chain_pem(),
        subject_replaced: !matches,
        notes,
    })
}

fn to_primitive(t: time::OffsetDateTime) -> time::PrimitiveDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    time::PrimitiveDateTime::new(t.date(), t.time())
}

/// The public JWK of a signing certificate: kid = thumbprint, with x5c and x5t#S256.
fn certificate_jwk(
    key: &openssl::pkey::PKey<openssl::pkey::Public>,
    alg: &str,
    der: &[u8],
) -> Result<PublicJwk, AppError> {
    use base64::Engine;
    let mut map = jwk::public_jwk(key, alg)?;
    map.insert(
        "x5c".into(),
        json!([base64::engine::general_purpose::STANDARD.encode(der)]),
    );
    map.insert(
        "x5t#S256".into(),
        json!(jwk::b64(&openssl::sha::sha256(der))),
    );
    let thumbprint = jwk::thumbprint(&map)?;
    Ok(PublicJwk {
        kid: thumbprint.clone(),
        thumbprint,
        jwk: map,
    })
}

/// Publishes a signing certificate's key in the software keystore; a key already published
/// (a renewed certificate for the same key) is updated to carry the new certificate.
fn publish_certificate_key(
    tx: &mut DbConnection,
    actor: &Actor,
    org_id: &str,
    software_id: &str,
    key: &PublicJwk,
    serial: &str,
) -> Result<(), AppError> {
    let updated = diesel::update(
        participant_keys::table
            .filter(participant_keys::organisation_id.eq(org_id))
            .filter(participant_keys::software_id.eq(software_id))
            .filter(participant_keys::kid.eq(&key.kid))
            .filter(participant_keys::revoked_at.is_null()),
    )
    .set((
        participant_keys::jwk.eq(Value::Object(key.jwk.clone()).to_string()),
        participant_keys::certificate_serial.eq(Some(serial)),
    ))
    .execute(tx)?;
    if updated == 0 {
        keystore::insert(tx, actor, org_id, Some(software_id), key, Some(serial))?;
    }
    Ok(())
}

/// A product's certificates, newest first; members and operators.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    software_id: &str,
) -> Result<Vec<Certificate>, AppError> {
    crate::directory::software::get(conn, actor, software_id)?;
    Ok(certificates::table
        .filter(certificates::software_id.eq(software_id))
        .select(Certificate::as_select())
        .order(certificates::created_at.desc())
        .load(conn)?)
}

/// One certificate; 404 for those outside its organisation.
pub fn get(conn: &mut DbConnection, actor: &Actor, serial: &str) -> Result<Certificate, AppError> {
    let cert = Certificate::find(conn, serial)?.ok_or(AppError::NotFound("certificate"))?;
    Access::to_organisation(conn, actor, &cert.organisation_id)
        .map_err(|_| AppError::NotFound("certificate"))?;
    Ok(cert)
}

/// Sets a certificate's revocation state and keeps the keystore in step: a revoked signing
/// certificate's key moves to the revoked set.
fn set_status(
    tx: &mut DbConnection,
    actor: &Actor,
    cert: &Certificate,
    status: &str,
    reason: Option<&str>,
    action: &str,
) -> Result<(), AppError> {
    let at = (status != "good").then(now);
    diesel::update(
        certificates::table
            .filter(certificates::serial.eq(&cert.serial))
            .filter(certificates::status.eq(&cert.status)),
    )
    .set((
        certificates::status.eq(status),
        certificates::revocation_reason.eq(reason),
        certificates::revoked_at.eq(at),
    ))
    .execute(tx)?;
    if status == "revoked" && cert.cert_type == "signing" {
        let kid: Option<String> = participant_keys::table
            .filter(participant_keys::certificate_serial.eq(&cert.serial))
            .filter(participant_keys::revoked_at.is_null())
            .select(participant_keys::kid)
            .first(tx)
            .optional()?;
        if let Some(kid) = kid {
            keystore::revoke(
                tx,
                actor,
                &cert.organisation_id,
                Some(&cert.software_id),
                &kid,
                "key.revoke",
            )?;
        }
    }
    Event::new(actor, action, "certificate", &cert.serial)
        .organisation(&cert.organisation_id)
        .status(Some(&cert.status), Some(status))
        .reason(reason)
        .record(tx)?;
    Ok(())
}

/// Revokes a certificate with an RFC 5280 reason; members of the owner and operators.
pub fn revoke(
    conn: &mut DbConnection,
    actor: &Actor,
    serial: &str,
    reason: &str,
) -> Result<Certificate, AppError> {
    let reason = REASONS
        .iter()
        .find(|r| r.eq_ignore_ascii_case(reason.trim()))
        .ok_or_else(|| {
            AppError::Validation(format!(
                "reason: {reason:?} is not one of {}",
                REASONS.join(", ")
            ))
        })?;
    write_transaction(conn, |tx| {
        let cert = get(tx, actor, serial)?;
        if cert.status == "revoked" {
            return Err(AppError::Conflict(
                "the certificate is already revoked".into(),
            ));
        }
        set_status(
            tx,
            actor,
            &cert,
            "revoked",
            Some(reason),
            "certificate.revoke",
        )?;
        get(tx, actor, serial)
    })
}

/// Keeps certificates in step with a status change of their software or organisation, in the
/// caller's transaction: revoked owners revoke them, suspended owners put them on hold, and
/// reinstatement lifts the hold where both the software and its organisation are active.
pub fn follow_owner_status(
    tx: &mut DbConnection,
    actor: &Actor,
    organisation_id: &str,
    software_id: Option<&str>,
    next: Status,
) -> Result<usize, AppError> {
    let mut query = certificates::table
        .filter(certificates::organisation_id.eq(organisation_id.to_owned()))
        .into_boxed();
    if let Some(id) = software_id {
        query = query.filter(certificates::software_id.eq(id.to_owned()));
    }
    let affected: Vec<Certificate> = query.select(Certificate::as_select()).load(tx)?;
    let mut changed = 0;
    for cert in affected {
        match (next, cert.status.as_str()) {
            (Status::Revoked, "good" | "hold") => {
                set_status(
                    tx,
                    actor,
                    &cert,
                    "revoked",
                    Some("privilegeWithdrawn"),
                    "certificate.revoke",
                )?;
            }
            (Status::Suspended, "good") => {
                set_status(
                    tx,
                    actor,
                    &cert,
                    "hold",
                    Some("certificateHold"),
                    "certificate.hold",
                )?;
            }
            (Status::Active, "hold") => {
                let (own, org): (String, String) = software::table
                    .inner_join(crate::db::schema::organisations::table)
                    .filter(software::id.eq(&cert.software_id))
                    .select((software::status, crate::db::schema::organisations::status))
                    .first(tx)?;
                if own != "active" || org != "active" {
                    continue;
                }
                set_status(tx, actor, &cert, "good", None, "certificate.release")?;
            }
            _ => continue,
        }
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_16_octet_integers() {
        for _ in 0..200 {
            let (serial, hex) = random_serial();
            let bytes = serial.to_bytes();
            assert_eq!(bytes.len(), 16);
            assert!(bytes[0] > 0 && bytes[0] < 0x80);
            assert_eq!(hex.len(), 32);
        }
    }

    #[test]
    fn the_aia_extension_is_well_formed_der() {
        let der = authority_info_access("http://d.example/pki/ocsp");
        let parsed = openssl::asn1::Asn1Object::from_str("1.3.6.1.5.5.7.48.1").unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(der[1] as usize, der.len() - 2);
        assert!(
            der.windows(8)
                .any(|w| w == [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01])
        );
        assert_eq!(parsed.to_string(), "OCSP");
    }
}

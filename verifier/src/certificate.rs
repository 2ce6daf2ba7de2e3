//! Checking a client certificate (mutual TLS): the chain to the directory's CA, validity,
//! clientAuth in its extended key usage, revocation through the directory's CRL, and the
//! binding to the statement: subject OU = org_id, CN = software_id; for `tls_client_auth`,
//! the registration's `tls_client_auth_subject_dn` must name the certificate's subject.

use std::time::{Duration, SystemTime};

use der::oid::ObjectIdentifier;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509Crl, X509StoreContext};
use serde::Serialize;

use crate::error::{ConfigError, VerifyError};
use crate::registration::ClientMetadata;
use crate::settings::Settings;
use crate::statement::SoftwareStatement;

/// What was checked about a certificate.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// Its subject, RFC 4514.
    pub subject: String,
    /// Its serial number, hexadecimal.
    pub serial: String,
    /// The end of its validity, as OpenSSL prints it.
    pub not_after: String,
    /// What is known of its revocation.
    pub revocation: Revocation,
    /// True only for [`Revocation::Checked`].
    pub revocation_checked: bool,
}

/// What a certificate check could say about revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Revocation {
    /// A current CRL of the issuing CA (within its nextUpdate, or at most the configured
    /// bound past it) does not list the certificate.
    Checked,
    /// The only CRL at hand is older than its nextUpdate plus the configured bound, and the
    /// settings accept that ([`Settings::with_accept_stale_crl`]): the certificate is not
    /// listed on it, but may have been revoked since.
    Stale,
    /// No CRL was given: revocation is unknown.
    NotChecked,
}

/// The directory's CA certificates (issuing CA, then root), parsed once.
#[derive(Clone)]
pub struct CaChain {
    certificates: Vec<X509>,
}

impl std::fmt::Debug for CaChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.certificates
                    .iter()
                    .map(|c| subject_text(&c.to_der().unwrap_or_default())),
            )
            .finish()
    }
}

impl CaChain {
    /// Reads the PEM chain the directory publishes at `/pki/ca.pem` (issuing CA first).
    pub fn from_pem(pem: &str) -> Result<Self, ConfigError> {
        let certificates =
            X509::stack_from_pem(pem.as_bytes()).map_err(|e| ConfigError::Invalid {
                what: "CA chain".into(),
                reason: e.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(ConfigError::Invalid {
                what: "CA chain".into(),
                reason: "no certificate in it".into(),
            });
        }
        Ok(Self { certificates })
    }

    fn issuing(&self) -> &X509 {
        &self.certificates[0]
    }
}

/// A CRL (DER), parsed once; its signature is checked against the CA chain when it is used.
#[derive(Clone)]
pub struct Crl {
    parsed: std::sync::Arc<X509Crl>,
    next_update: Option<SystemTime>,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("next_update", &self.next_update)
            .finish_non_exhaustive()
    }
}

impl Crl {
    /// Parses a DER CRL (what the directory serves at `/pki/crl`).
    pub fn from_der(der: &[u8]) -> Result<Self, ConfigError> {
        use der::Decode;
        let invalid = |reason: String| ConfigError::Invalid {
            what: "CRL".into(),
            reason,
        };
        let parsed = X509Crl::from_der(der).map_err(|e| invalid(e.to_string()))?;
        let list =
            x509_cert::crl::CertificateList::from_der(der).map_err(|e| invalid(e.to_string()))?;
        let next_update = list
            .tbs_cert_list
            .next_update
            .map(|t| SystemTime::UNIX_EPOCH + t.to_unix_duration());
        Ok(Self {
            parsed: std::sync::Arc::new(parsed),
            next_update,
        })
    }

    /// Its nextUpdate, if it has one.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.next_update
    }
}

fn bad(message: impl Into<String>) -> VerifyError {
    VerifyError::metadata(message)
}

/// `(attribute, value)` pairs of a DN, attribute names lower-cased.
fn dn_parts(cert: &X509) -> Vec<(String, String)> {
    cert.subject_name()
        .entries()
        .map(|e| {
            let name = e
                .object()
                .nid()
                .short_name()
                .map(str::to_owned)
                .unwrap_or_else(|_| e.object().to_string());
            (
                name.to_ascii_lowercase(),
                e.data().to_string().unwrap_or_default(),
            )
        })
        .collect()
}

/// A distinguished name as comparable values: per RDN (in order), its attributes as (OID,
/// string value), sorted. Values that are not strings keep their DER.
fn comparable(name: &x509_cert::name::RdnSequence) -> Vec<Vec<(String, String)>> {
    use der::Encode;
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    name.0
        .iter()
        .map(|rdn| {
            let mut attributes: Vec<(String, String)> = rdn
                .0
                .iter()
                .map(|atv| {
                    let value = &atv.value;
                    let text = Utf8StringRef::try_from(value)
                        .map(|s| s.as_str().to_owned())
                        .or_else(|_| {
                            PrintableStringRef::try_from(value).map(|s| s.as_str().to_owned())
                        })
                        .or_else(|_| Ia5StringRef::try_from(value).map(|s| s.as_str().to_owned()))
                        .or_else(|_| {
                            TeletexStringRef::try_from(value).map(|s| s.as_str().to_owned())
                        })
                        .unwrap_or_else(|_| {
                            format!("#{}", hex(&value.to_der().unwrap_or_default()))
                        });
                    (atv.oid.to_string(), text)
                })
                .collect();
            attributes.sort();
            attributes
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an RFC 4514 string (`tls_client_auth_subject_dn`) names the certificate's subject:
/// the same RDNs in the same order, with the same attribute values; attribute type names are
/// compared as OIDs (so case does not matter), escapes are undone.
fn names_subject(expected: &str, certificate_der: &[u8]) -> bool {
    use der::Decode;
    use std::str::FromStr;
    let Ok(expected) = x509_cert::name::RdnSequence::from_str(&with_known_oids(expected)) else {
        return false;
    };
    let Ok(certificate) = x509_cert::Certificate::from_der(certificate_der) else {
        return false;
    };
    comparable(&expected) == comparable(&certificate.tbs_certificate.subject)
}

/// Attribute type names that x509-cert does not know, as their dotted OIDs:
/// `organizationIdentifier=` (as the directory and OpenSSL write it) becomes `2.5.4.97=`.
/// Only at the start of an attribute (the text's start, or after an unescaped `,` or `+`).
fn with_known_oids(dn: &str) -> String {
    const NAME: &str = "organizationidentifier=";
    let mut out = String::with_capacity(dn.len());
    let mut at_start = true;
    let mut escaped = false;
    let mut rest = dn;
    while let Some(c) = rest.chars().next() {
        if at_start
            && rest.len() >= NAME.len()
            && rest.is_char_boundary(NAME.len())
            && rest[..NAME.len()].eq_ignore_ascii_case(NAME)
        {
            out.push_str("2.5.4.97=");
            rest = &rest[NAME.len()..];
            at_start = false;
            continue;
        }
        out.push(c);
        at_start = !escaped && (c == ',' || c == '+');
        escaped = !escaped && c == '\\';
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The RFC 4514 string of a certificate's subject (DER): escaped, last RDN first, with
/// organizationIdentifier by its name, exactly as the directory writes
/// `tls_client_auth_subject_dn` and `openssl x509 -subject -nameopt RFC2253` prints it.
pub fn subject_dn(certificate_der: &[u8]) -> Result<String, ConfigError> {
    use der::Decode;
    let certificate =
        x509_cert::Certificate::from_der(certificate_der).map_err(|e| ConfigError::Invalid {
            what: "certificate".into(),
            reason: e.to_string(),
        })?;
    Ok(rfc4514(&certificate.tbs_certificate.subject))
}

/// organizationIdentifier (2.5.4.97, X.520), which const-oid's names do not include.
const ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// x509-cert's RFC 4514 writing, with organizationIdentifier by its name (as OpenSSL writes
/// it) instead of as a dotted OID with a hex value: its value is escaped by x509-cert as if
/// it were a commonName.
fn rfc4514(name: &x509_cert::name::RdnSequence) -> String {
    name.0
        .iter()
        .rev()
        .map(|rdn| {
            rdn.0
                .iter()
                .map(|atv| {
                    if atv.oid != ORGANIZATION_IDENTIFIER {
                        return atv.to_string();
                    }
                    let as_common_name = x509_cert::attr::AttributeTypeAndValue {
                        oid: COMMON_NAME,
                        value: atv.value.clone(),
                    }
                    .to_string();
                    match as_common_name.strip_prefix("CN=") {
                        Some(value) => format!("organizationIdentifier={value}"),
                        None => atv.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The RFC 4514 string of a certificate's subject, or empty when it cannot be read.
fn subject_text(certificate_der: &[u8]) -> String {
    subject_dn(certificate_der).unwrap_or_default()
}

const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
const EXTENDED_KEY_USAGE: &str = "2.5.29.37";

/// Whether the certificate's extended key usage includes clientAuth (a certificate without
/// the extension does not: a transport certificate of the directory always carries it).
fn allows_client_auth(certificate_der: &[u8]) -> bool {
    use der::Decode;
    let Ok(certificate) = x509_cert::Certificate::from_der(certificate_der) else {
        return false;
    };
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id.to_string() == EXTENDED_KEY_USAGE)
        .filter_map(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok()
        })
        .any(|usage| usage.0.iter().any(|oid| oid.to_string() == CLIENT_AUTH))
}

/// Checks a client certificate (PEM) against the CA chain and `crl` at `now`, and binds it
/// to the statement (and, for `tls_client_auth`, to the registration's subject DN).
pub(crate) fn verify(
    certificate_pem: &str,
    ca: &CaChain,
    crl: Option<&Crl>,
    ssa: &SoftwareStatement,
    registration: Option<&ClientMetadata>,
    settings: &Settings,
    now: SystemTime,
) -> Result<CertificateInfo, VerifyError> {
    let cert = X509::from_pem(certificate_pem.as_bytes())
        .map_err(|_| bad("the client certificate is not a PEM certificate"))?;
    let mut store = X509StoreBuilder::new().map_err(|_| bad("cannot build a certificate store"))?;
    for certificate in &ca.certificates {
        store
            .add_cert(certificate.clone())
            .map_err(|_| bad("cannot use the CA chain"))?;
    }
    if let Some(crl) = crl {
        let key = ca
            .issuing()
            .public_key()
            .map_err(|_| bad("the issuing CA has no usable key"))?;
        if !crl.parsed.verify(&key).unwrap_or(false) {
            return Err(bad("the CRL is not signed by the directory's issuing CA"));
        }
    }
    // Validity is judged at `now`, not at the system's time.
    let at = crate::clock::unix(now);
    let mut param = openssl::x509::verify::X509VerifyParam::new()
        .map_err(|_| bad("cannot verify certificates"))?;
    param.set_time(at);
    store
        .set_param(&param)
        .map_err(|_| bad("cannot verify certificates"))?;
    let store = store.build();
    let mut context = X509StoreContext::new().map_err(|_| bad("cannot verify certificates"))?;
    let untrusted = Stack::new().map_err(|_| bad("cannot verify certificates"))?;
    let verified = context
        .init(&store, &cert, &untrusted, |c| {
            let ok = c.verify_cert()?;
            Ok((ok, c.error().error_string().to_owned()))
        })
        .map_err(|_| bad("cannot verify the certificate chain"))?;
    if !verified.0 {
        return Err(bad(format!(
            "the client certificate does not chain to the directory's CA: {}",
            verified.1
        )));
    }
    let der = cert
        .to_der()
        .map_err(|_| bad("the client certificate cannot be encoded"))?;
    if !allows_client_auth(&der) {
        return Err(bad(
            "the client certificate's extended key usage does not include clientAuth: it is not a transport certificate",
        ));
    }
    let revocation = match crl {
        None => Revocation::NotChecked,
        Some(crl) => {
            if let openssl::x509::CrlStatus::Revoked(_) = crl.parsed.get_by_cert(&cert) {
                return Err(bad(
                    "the client certificate has been revoked by the directory",
                ));
            }
            let stale_from = crl.next_update.map(|next| next + settings.crl_stale_for);
            match stale_from {
                Some(limit) if now > limit && !settings.accept_stale_crl => {
                    return Err(bad(format!(
                        "the directory's CRL expired {} s ago and no newer one is at hand: the certificate's revocation cannot be checked",
                        now.duration_since(limit - settings.crl_stale_for)
                            .unwrap_or(Duration::ZERO)
                            .as_secs()
                    )));
                }
                Some(limit) if now > limit => Revocation::Stale,
                _ => Revocation::Checked,
            }
        }
    };
    let parts = dn_parts(&cert);
    let value = |name: &str| {
        parts
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if value("ou").as_deref() != Some(ssa.org_id.as_str()) {
        return Err(bad(format!(
            "the certificate's OU {:?} is not the statement's org_id {:?}",
            value("ou").unwrap_or_default(),
            ssa.org_id
        )));
    }
    if value("cn").as_deref() != Some(ssa.software_id.as_str()) {
        return Err(bad(format!(
            "the certificate's CN {:?} is not the statement's software_id {:?}",
            value("cn").unwrap_or_default(),
            ssa.software_id
        )));
    }
    let subject = subject_text(&der);
    if let Some(metadata) = registration {
        let method = metadata
            .get("token_endpoint_auth_method")
            .and_then(|v| v.as_str());
        if method == Some("tls_client_auth") {
            let expected = metadata
                .get("tls_client_auth_subject_dn")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            if !names_subject(expected, &der) {
                return Err(bad(format!(
                    "tls_client_auth_subject_dn {expected:?} does not name the certificate's subject {subject:?}"
                )));
            }
        }
    }
    Ok(CertificateInfo {
        subject,
        serial: cert
            .serial_number()
            .to_bn()
            .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
            .unwrap_or_default(),
        not_after: cert.not_after().to_string(),
        revocation,
        revocation_checked: revocation == Revocation::Checked,
    })
}

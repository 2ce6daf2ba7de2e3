//! Checking a client certificate (mutual TLS): the chain to the directory's CA, validity,
//! clientAuth in its extended key usage, revocation through the directory's CRL, and the
//! binding to the statement: subject OU = org_id, CN = software_id; for `tls_client_auth`,
//! the registration's `tls_client_auth_subject_dn` must name the certificate's subject.

use std::time::{Duration, SystemTime};

use der::Decode;
use der::oid::ObjectIdentifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};

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
    /// Its index in the directory's transparency log, when a proof was checked.
    pub log_index: Option<u64>,
    /// Why it is not shown in the transparency log, in
    /// [`Transparency::Warn`](crate::Transparency::Warn) mode.
    pub log_problem: Option<String>,
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

/// The directory's CA certificates (issuing CA, then root), checked to be certificates.
#[derive(Clone)]
pub struct CaChain {
    /// The certificates that may stand between a client certificate and the root.
    intermediates: Vec<CertificateDer<'static>>,
    /// The last certificate of the chain: the trust anchor.
    root: CertificateDer<'static>,
}

impl std::fmt::Debug for CaChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.intermediates
                    .iter()
                    .chain([&self.root])
                    .map(|c| subject_text(c)),
            )
            .finish()
    }
}

impl CaChain {
    /// Reads the PEM chain the directory publishes at `/pki/ca.pem` (issuing CA first, its
    /// root last: the root is the trust anchor).
    pub fn from_pem(pem: &str) -> Result<Self, ConfigError> {
        use der::Encode;
        let invalid = |reason: String| ConfigError::Invalid {
            what: "CA chain".into(),
            reason,
        };
        let parsed = x509_cert::Certificate::load_pem_chain(pem.as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
        let mut intermediates = parsed
            .iter()
            .map(|c| c.to_der().map(CertificateDer::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        let Some(root) = intermediates.pop() else {
            return Err(invalid("no certificate in it".into()));
        };
        webpki::anchor_from_trusted_cert(&root)
            .map_err(|e| invalid(format!("its last certificate is no trust anchor: {e:?}")))?;
        Ok(Self {
            intermediates,
            root,
        })
    }
}

/// A CRL (DER), parsed once; its signature is checked against the CA chain when it is used.
#[derive(Clone)]
pub struct Crl {
    parsed: std::sync::Arc<CertRevocationList<'static>>,
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
        let invalid = |reason: String| ConfigError::Invalid {
            what: "CRL".into(),
            reason,
        };
        let parsed =
            OwnedCertRevocationList::from_der(der).map_err(|e| invalid(format!("{e:?}")))?;
        let list =
            x509_cert::crl::CertificateList::from_der(der).map_err(|e| invalid(e.to_string()))?;
        let next_update = list
            .tbs_cert_list
            .next_update
            .map(|t| SystemTime::UNIX_EPOCH + t.to_unix_duration());
        Ok(Self {
            parsed: std::sync::Arc::new(parsed.into()),
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

/// The first value of `attribute` in a DN, as text.
fn attribute(name: &x509_cert::name::RdnSequence, attribute: ObjectIdentifier) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == attribute)
        .map(|atv| text_of(&atv.value))
}

/// An attribute's value as text (the string types a DN uses), or `#` and its DER in hex.
fn text_of(value: &der::Any) -> String {
    use der::Encode;
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    Utf8StringRef::try_from(value)
        .map(|s| s.as_str().to_owned())
        .or_else(|_| PrintableStringRef::try_from(value).map(|s| s.as_str().to_owned()))
        .or_else(|_| Ia5StringRef::try_from(value).map(|s| s.as_str().to_owned()))
        .or_else(|_| TeletexStringRef::try_from(value).map(|s| s.as_str().to_owned()))
        .unwrap_or_else(|_| format!("#{}", hex(&value.to_der().unwrap_or_default())))
}

/// A distinguished name as comparable values: per RDN (in order), its attributes as (OID,
/// string value), sorted. Values that are not strings keep their DER.
fn comparable(name: &x509_cert::name::RdnSequence) -> Vec<Vec<(String, String)>> {
    name.0
        .iter()
        .map(|rdn| {
            let mut attributes: Vec<(String, String)> = rdn
                .0
                .iter()
                .map(|atv| (atv.oid.to_string(), text_of(&atv.value)))
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
fn names_subject(expected: &str, subject: &x509_cert::name::RdnSequence) -> bool {
    use std::str::FromStr;
    let Ok(expected) = x509_cert::name::RdnSequence::from_str(&with_known_oids(expected)) else {
        return false;
    };
    comparable(&expected) == comparable(subject)
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
const ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");

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

const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Whether the certificate's extended key usage includes clientAuth (a certificate without
/// the extension does not: a transport certificate of the directory always carries it).
fn allows_client_auth(certificate: &x509_cert::Certificate) -> bool {
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == EXTENDED_KEY_USAGE)
        .filter_map(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok()
        })
        .any(|usage| usage.0.contains(&CLIENT_AUTH))
}

/// A time as OpenSSL prints it (`Dec  4 21:46:02 2027 GMT`).
fn openssl_time(time: x509_cert::time::Time) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = time.to_date_time();
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[usize::from(t.month() - 1)],
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds(),
        t.year()
    )
}

const NOT_CLIENT_AUTH: &str = "the client certificate's extended key usage does not include clientAuth: it is not a transport certificate";

/// What a failed path check says, in the verifier's words.
fn chain_error(error: webpki::Error) -> VerifyError {
    use webpki::Error as E;
    bad(match error {
        E::CertRevoked => "the client certificate has been revoked by the directory".to_owned(),
        E::UnknownRevocationStatus
        | E::InvalidCrlSignatureForPublicKey
        | E::UnsupportedCrlSignatureAlgorithmContext(_)
        | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_)
        | E::IssuerNotCrlSigner => {
            "the CRL is not signed by the directory's issuing CA".to_owned()
        }
        E::CertExpired { .. } => {
            "the client certificate does not chain to the directory's CA: certificate has expired"
                .to_owned()
        }
        E::CertNotValidYet { .. } => {
            "the client certificate does not chain to the directory's CA: certificate is not yet valid"
                .to_owned()
        }
        E::RequiredEkuNotFoundContext(_) => NOT_CLIENT_AUTH.to_owned(),
        E::UnknownIssuer => {
            "the client certificate does not chain to the directory's CA: unknown issuer".to_owned()
        }
        other => format!("the client certificate does not chain to the directory's CA: {other:?}"),
    })
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
    use der::DecodePem;
    use der::Encode;
    let not_pem = || bad("the client certificate is not a PEM certificate");
    let certificate = x509_cert::Certificate::from_pem(certificate_pem).map_err(|_| not_pem())?;
    let der = CertificateDer::from(certificate.to_der().map_err(|_| not_pem())?);
    let end_entity = EndEntityCert::try_from(&der).map_err(chain_error)?;
    // The root is the trust anchor; the certificates before it may be on the path.
    let anchor = webpki::anchor_from_trusted_cert(&ca.root).map_err(chain_error)?;
    let crls = crl.map(|crl| [crl.parsed.as_ref()]);
    // The end entity's revocation is checked; whether the CRL is current is judged below.
    let revocation = crls
        .as_ref()
        .map(|crls| {
            RevocationOptionsBuilder::new(crls).map(|options| {
                options
                    .with_depth(RevocationCheckDepth::EndEntity)
                    .with_status_policy(UnknownStatusPolicy::Deny)
                    .with_expiration_policy(ExpirationPolicy::Ignore)
                    .build()
            })
        })
        .transpose()
        .map_err(|_| bad("no CRL to check revocation with"))?;
    // Validity is judged at `now`, not at the system's time.
    let at = UnixTime::since_unix_epoch(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &ca.intermediates,
            at,
            KeyUsage::client_auth(),
            revocation,
            None,
        )
        .map_err(chain_error)?;
    if !allows_client_auth(&certificate) {
        return Err(bad(NOT_CLIENT_AUTH));
    }
    let revocation = match crl {
        None => Revocation::NotChecked,
        Some(crl) => {
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
    let tbs = &certificate.tbs_certificate;
    let ou = attribute(&tbs.subject, ORGANIZATIONAL_UNIT);
    if ou.as_deref() != Some(ssa.org_id.as_str()) {
        return Err(bad(format!(
            "the certificate's OU {:?} is not the statement's org_id {:?}",
            ou.unwrap_or_default(),
            ssa.org_id
        )));
    }
    let cn = attribute(&tbs.subject, COMMON_NAME);
    if cn.as_deref() != Some(ssa.software_id.as_str()) {
        return Err(bad(format!(
            "the certificate's CN {:?} is not the statement's software_id {:?}",
            cn.unwrap_or_default(),
            ssa.software_id
        )));
    }
    let subject = rfc4514(&tbs.subject);
    if let Some(metadata) = registration {
        let method = metadata
            .get("token_endpoint_auth_method")
            .and_then(|v| v.as_str());
        if method == Some("tls_client_auth") {
            let expected = metadata
                .get("tls_client_auth_subject_dn")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            if !names_subject(expected, &tbs.subject) {
                return Err(bad(format!(
                    "tls_client_auth_subject_dn {expected:?} does not name the certificate's subject {subject:?}"
                )));
            }
        }
    }
    Ok(CertificateInfo {
        subject,
        serial: serial_text(tbs.serial_number.as_bytes()),
        not_after: openssl_time(tbs.validity.not_after),
        revocation,
        revocation_checked: revocation == Revocation::Checked,
        log_index: None,
        log_problem: None,
    })
}

/// A serial number in upper-case hexadecimal without leading zeros, as OpenSSL prints it.
pub(crate) fn serial_text(bytes: &[u8]) -> String {
    let text: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    match text.trim_start_matches('0') {
        "" => "0".to_owned(),
        digits => digits.to_owned(),
    }
}

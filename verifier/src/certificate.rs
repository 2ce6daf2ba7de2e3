//! Checking a client certificate (mutual TLS): the chain to the directory's CA, validity,
//! revocation through the directory's CRL (cached until its nextUpdate), and the binding to
//! the statement: subject OU = org_id, CN = software_id; for `tls_client_auth`, the
//! registration's `tls_client_auth_subject_dn` must name the certificate's subject.

use std::time::Instant;

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509Crl, X509StoreContext};
use serde::Serialize;

use crate::Verifier;
use crate::error::VerifyError;
use crate::registration::ClientMetadata;
use crate::statement::SoftwareStatement;

/// What was checked about a certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub serial: String,
    pub not_after: String,
    pub revocation_checked: bool,
}

pub(crate) struct CachedCrl {
    der: Vec<u8>,
    fresh_until: Instant,
}

fn parse_crl(der: &[u8]) -> Result<X509Crl, VerifyError> {
    X509Crl::from_der(der).map_err(|_| bad("the directory's CRL cannot be parsed"))
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

/// The RFC 4514 string of a certificate's subject.
fn subject_text(certificate_der: &[u8]) -> String {
    use der::Decode;
    x509_cert::Certificate::from_der(certificate_der)
        .map(|c| c.tbs_certificate.subject.to_string())
        .unwrap_or_default()
}

impl Verifier {
    fn current_crl(&self) -> Result<Option<X509Crl>, VerifyError> {
        let Some(url) = &self.directory.crl_uri else {
            return Ok(None);
        };
        let mut cache = self.crl.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.as_ref().filter(|c| Instant::now() < c.fresh_until) {
            return parse_crl(&cached.der).map(Some);
        }
        match self.http.get(url) {
            Ok(fetched) => {
                let crl = parse_crl(&fetched.body)?;
                // Until nextUpdate, but re-read at least every five minutes.
                let fresh_for = crl
                    .next_update()
                    .and_then(|next| {
                        openssl::asn1::Asn1Time::days_from_now(0)
                            .ok()?
                            .diff(next)
                            .ok()
                    })
                    .map(|d| (d.days as u64) * 86_400 + d.secs.max(0) as u64)
                    .unwrap_or(0)
                    .min(300);
                *cache = Some(CachedCrl {
                    der: fetched.body,
                    fresh_until: Instant::now() + std::time::Duration::from_secs(fresh_for),
                });
                Ok(Some(crl))
            }
            Err(e) => match cache.as_ref() {
                Some(stale) => parse_crl(&stale.der).map(Some),
                None => Err(bad(format!("the directory's CRL cannot be fetched: {e}"))),
            },
        }
    }

    /// Checks a client certificate (PEM) against the directory's CA and binds it to the
    /// statement (and, for `tls_client_auth`, to the registration's subject DN).
    pub fn verify_client_certificate(
        &self,
        certificate_pem: &str,
        ssa: &SoftwareStatement,
        registration: Option<&ClientMetadata>,
    ) -> Result<CertificateInfo, VerifyError> {
        let chain = self
            .directory
            .ca_chain_pem
            .as_deref()
            .ok_or_else(|| bad("no CA chain is configured to check client certificates"))?;
        let cert = X509::from_pem(certificate_pem.as_bytes())
            .map_err(|_| bad("the client certificate is not a PEM certificate"))?;
        let cas = X509::stack_from_pem(chain.as_bytes())
            .map_err(|_| bad("the configured CA chain cannot be parsed"))?;
        let mut store =
            X509StoreBuilder::new().map_err(|_| bad("cannot build a certificate store"))?;
        for ca in &cas {
            store
                .add_cert(ca.clone())
                .map_err(|_| bad("cannot use the CA chain"))?;
        }
        let crl = self.current_crl()?;
        let issuing = cas.first().ok_or_else(|| bad("the CA chain is empty"))?;
        if let Some(crl) = &crl {
            let key = issuing
                .public_key()
                .map_err(|_| bad("the issuing CA has no usable key"))?;
            if !crl.verify(&key).unwrap_or(false) {
                return Err(bad("the CRL is not signed by the directory's issuing CA"));
            }
        }
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
        if let Some(crl) = &crl
            && let openssl::x509::CrlStatus::Revoked(_) = crl.get_by_cert(&cert)
        {
            return Err(bad(
                "the client certificate has been revoked by the directory",
            ));
        }
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
        let der = cert
            .to_der()
            .map_err(|_| bad("the client certificate cannot be encoded"))?;
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
            revocation_checked: crl.is_some(),
        })
    }
}

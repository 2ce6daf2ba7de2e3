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

/// Parses `k=v, k=v` or RFC 4514 `k=v,k=v` into sorted (attribute, value) pairs.
fn parse_dn(text: &str) -> Vec<(String, String)> {
    let mut parts: Vec<(String, String)> = text
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let k = k.trim().to_ascii_lowercase();
            let k = match k.as_str() {
                "2.5.4.97" => "organizationidentifier".to_owned(),
                _ => k,
            };
            (k, v.trim().to_owned())
        })
        .collect();
    parts.sort();
    parts
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
        let subject = parts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(metadata) = registration {
            let method = metadata
                .get("token_endpoint_auth_method")
                .and_then(|v| v.as_str());
            if method == Some("tls_client_auth") {
                let expected = metadata
                    .get("tls_client_auth_subject_dn")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let mut ours = parts.clone();
                ours.sort();
                if parse_dn(expected) != ours {
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

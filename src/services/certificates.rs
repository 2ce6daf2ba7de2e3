//! Certificates: issuing transport and signing certificates from CSRs for active products of
//! active organisations, revocation by members and operators, and following the status of
//! their software and organisation. After a change commits, [`changed`] signs a new CRL and
//! clears the OCSP answers that could contradict it.

use std::sync::Arc;

use openssl::x509::X509;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Directory, keystore};
use crate::keys::proofs::certificate_thumbprint;
use crate::model::audit::Entry;
use crate::model::certificate::{
    CertStatus, CertType, Certificate, Issued, Owner, RevocationReason, Validation,
    ValidationStatus, Validity,
};
use crate::model::software::Grant;
use crate::model::{Actor, Error, OrgId, Result, Serial, SoftwareId, Status, Timestamp, invalid};
use crate::pki::{self, csr};
use crate::store::{self, DbConnection, write_transaction};

/// Issues a certificate from a CSR for an active product of an active organisation, for its
/// members and operators. Signing certificates publish their key in the software's keystore.
///
/// Eligibility is read again inside the write transaction, with the product and its
/// organisation locked against a concurrent decision: a suspension that commits while the
/// certificate is being signed either holds the new certificate (it commits first) or
/// refuses it (it committed first), never leaves a good certificate of a suspended product.
pub async fn issue(
    dir: &Arc<Directory>,
    actor: Actor,
    software: SoftwareId,
    cert_type: CertType,
    csr_pem: String,
) -> Result<Issued> {
    let at = dir.now();
    let shared = dir.clone();
    let issued = dir
        .db(move |conn| {
            let csr = csr::parse(&csr_pem)?;
            let (product, org, _) = super::access::software(conn, &actor, software)?;
            product
                .eligibility(org.status)
                .map_err(|why| why.refusal(Grant::Certificate))?;
            let assigned = pki::assigned_subject(&org, product.id);
            let agrees = pki::subject_agrees(&csr.subject, &assigned);
            let mut notes = vec![];
            if !agrees {
                let asked = csr
                    .subject
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                if shared.config.strict_csr_subject {
                    return Err(Error::Validation(format!(
                        "csr: its subject {asked} differs from the one the directory assigns ({})",
                        pki::subject_for_people(&assigned)
                    )));
                }
                notes.push(format!(
                    "the CSR asked for the subject {asked}; the directory assigned {}",
                    pki::subject_for_people(&assigned)
                ));
            }
            let names = match cert_type {
                CertType::Transport => {
                    let proven: Vec<String> = store::issuers::of(conn, org.id)?
                        .into_iter()
                        .filter(|c| c.verified_at.is_some())
                        .map(|c| c.issuer)
                        .collect();
                    certified_names(&csr.names, &org, &proven, &product)?
                }
                CertType::Signing => {
                    if !csr.names.is_empty() {
                        notes.push(
                            "the CSR asked for subjectAltName entries; a signing certificate carries none"
                                .to_owned(),
                        );
                    }
                    vec![]
                }
            };
            let profile = pki::Profile {
                public_url: &shared.public_url,
                validity_days: shared.config.certificate_validity_days,
            };
            let signed = pki::sign(&shared.ca, &csr, cert_type, &assigned, &names, profile, at)?;
            let certificate = Certificate {
                serial: signed.serial.clone(),
                organisation_id: org.id,
                software_id: product.id,
                cert_type,
                subject: signed.subject.clone(),
                not_before: signed.not_before,
                not_after: signed.not_after,
                pem: signed.pem.clone(),
                status: CertStatus::Good,
                revocation_reason: None,
                revoked_at: None,
                created_at: at,
            };
            let log_index = write_transaction(conn, |tx| {
                let (own, organisation) = store::software::lock_statuses(tx, product.id)?;
                let mut current = product.clone();
                current.status = own;
                current
                    .eligibility(organisation)
                    .map_err(|why| why.refusal(Grant::Certificate))?;
                let sha256 = hex::encode(Sha256::digest(&signed.der));
                store::certificates::insert(tx, &certificate, &signed.issuer, &sha256)?;
                let log_index = shared
                    .config
                    .transparency_log
                    .then(|| {
                        super::transparency::record_in(
                            tx,
                            ssa_verifier::transparency::EntryKind::Certificate,
                            &signed.der,
                            &signed.serial.to_string(),
                            at,
                        )
                    })
                    .transpose()?;
                if cert_type == CertType::Signing {
                    let key = pki::certificate_jwk(&csr, &signed.der)?;
                    keystore::publish_certificate_key(
                        tx,
                        &actor,
                        org.id,
                        product.id,
                        &key,
                        &signed.serial,
                        at,
                    )?;
                }
                store::audit::record(
                    tx,
                    Entry::new(at, &actor, "certificate.issue", "certificate", &signed.serial)
                        .organisation(org.id)
                        .status(None, Some(CertStatus::Good.as_str()))
                        .details(json!({"software_id": product.id, "type": cert_type.as_str(), "subject_replaced": !agrees})),
                )?;
                Ok::<_, Error>(log_index)
            })?;
            Ok(Issued {
                certificate,
                chain: shared.ca.chain_pem(),
                subject_replaced: !agrees,
                notes,
                log_index,
                log_proof_uri: log_index
                    .map(|_| super::transparency::proof_uri(&shared.public_url, &signed.der)),
            })
        })
        .await?;
    Ok(issued)
}

/// The subjectAltName entries a transport certificate may carry: each name the CSR asks for
/// must be the host of a URL the organisation registered (the issuer or registration endpoint
/// of an authorization server whose issuer it proved it controls, `proven`) or the product did
/// (its client URI or a redirect URI, approved by an operator), so that a participant's server
/// (a bank's registration endpoint, say) can present a directory certificate, and no
/// participant gets one for another's host.
fn certified_names(
    asked: &[csr::Name],
    org: &crate::model::organisation::Organisation,
    proven: &[String],
    product: &crate::model::software::Software,
) -> Result<Vec<csr::Name>> {
    let registered: Vec<String> = org
        .authorization_servers
        .iter()
        .filter(|s| proven.contains(&s.issuer))
        .flat_map(|s| [s.issuer.as_str(), s.registration_endpoint.as_str()])
        .chain(product.client_uri.as_deref())
        .chain(product.redirect_uris.iter().map(String::as_str))
        .filter_map(|u| url::Url::parse(u).ok())
        .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
        .collect();
    for name in asked {
        let host = name.host();
        if !registered.contains(&host) {
            return Err(Error::Validation(format!(
                "csr: the subjectAltName {host} is not the host of a URL registered for this organisation's authorization servers or this software's client and redirect URIs; register it there first (an authorization server's once its issuer is proven)"
            )));
        }
    }
    Ok(asked.to_vec())
}

/// A product's certificates, newest first; members and operators.
pub async fn list(
    dir: &Arc<Directory>,
    actor: Actor,
    software: SoftwareId,
) -> Result<Vec<Certificate>> {
    dir.db(move |conn| {
        super::access::software(conn, &actor, software)?;
        Ok(store::certificates::for_software(conn, software)?)
    })
    .await
}

fn get_in(conn: &mut DbConnection, actor: &Actor, serial: &Serial) -> Result<Certificate> {
    let cert = store::certificates::find(conn, serial)?.ok_or(Error::NotFound("certificate"))?;
    // Through its product: a product's own token reaches its certificates and no others.
    super::access::software(conn, actor, cert.software_id)
        .map_err(|_| Error::NotFound("certificate"))?;
    Ok(cert)
}

/// One certificate; 404 for those outside its organisation.
pub async fn get(dir: &Arc<Directory>, actor: Actor, serial: Serial) -> Result<Certificate> {
    dir.db(move |conn| get_in(conn, &actor, &serial)).await
}

/// What the directory knows of a certificate a bank was presented (PEM, the leaf first):
/// whether its CA signed it, its record, revocation status, validity, owner and log index.
/// For operators, participants (members of an active organisation) and machine clients
/// (`directory:read`); what is not a certificate is a 422.
pub async fn validate(dir: &Arc<Directory>, actor: Actor, pem: String) -> Result<Validation> {
    let presented = pki::presented(&pem).map_err(|why| invalid("certificate", why))?;
    let (shared, at) = (dir.clone(), dir.now());
    dir.db(move |conn| {
        let participant = match &actor {
            Actor::Client { .. } | Actor::Cli | Actor::System => true,
            Actor::User { operator: true, .. } => true,
            Actor::User { id, .. } => store::organisations::is_participant(conn, *id)?,
        };
        if !participant {
            return Err(Error::Forbidden(
                "certificates are validated for operators and members of an active organisation"
                    .into(),
            ));
        }
        let issuer = shared.ca.issuers().find(|i| i.signed(&presented.pem));
        // On record only when the directory issued exactly these bytes: a foreign
        // certificate that reuses a serial is not ours.
        let record = match issuer {
            Some(_) => store::certificates::find(conn, &presented.serial)?.filter(|c| {
                X509::from_pem(c.pem.as_bytes())
                    .and_then(|x| x.to_der())
                    .is_ok_and(|der| der == presented.der)
            }),
            None => None,
        };
        let sha256 = hex::encode(Sha256::digest(&presented.der));
        let log_index = store::log::by_artefact(conn, &sha256)?.map(|(idx, _)| idx);
        let owners = match &record {
            Some(cert) => {
                let org = store::organisations::find(conn, cert.organisation_id)?
                    .ok_or(Error::NotFound("organisation"))?;
                let software = store::software::find(conn, cert.software_id)?
                    .ok_or(Error::NotFound("software"))?;
                Some((
                    Owner {
                        id: org.id,
                        name: org.legal_name,
                        status: org.status,
                    },
                    Owner {
                        id: software.id,
                        name: software.client_name,
                        status: software.status,
                    },
                ))
            }
            None => None,
        };
        let validity = if at < presented.not_before {
            Validity::NotYetValid
        } else if at > presented.not_after {
            Validity::Expired
        } else {
            Validity::Valid
        };
        let status = match &record {
            None => ValidationStatus::Unknown,
            Some(cert) => match cert.status {
                CertStatus::Good => ValidationStatus::Good,
                CertStatus::Hold => ValidationStatus::Hold,
                CertStatus::Revoked => ValidationStatus::Revoked,
            },
        };
        let mut problems = vec![];
        match (issuer, &record) {
            (None, _) => problems.push("not signed by the directory's CA".to_owned()),
            (Some(_), None) => problems.push(
                "signed by the directory's CA but not on its record: tell the directory's operators"
                    .to_owned(),
            ),
            (Some(_), Some(cert)) if cert.status != CertStatus::Good => problems.push(format!(
                "{} ({})",
                if cert.status == CertStatus::Hold { "on hold" } else { "revoked" },
                cert.revocation_reason.map_or("no reason", RevocationReason::as_str)
            )),
            _ => {}
        }
        match validity {
            Validity::Expired => problems.push("expired".to_owned()),
            Validity::NotYetValid => problems.push("not valid yet".to_owned()),
            Validity::Valid => {}
        }
        if let Some((org, software)) = &owners {
            if org.status != Status::Active {
                problems.push(format!("its organisation is {}", org.status.as_str()));
            }
            if software.status != Status::Active {
                problems.push(format!("its software is {}", software.status.as_str()));
            }
        }
        let (organisation, software) = owners.unzip();
        Ok(Validation {
            valid: problems.is_empty(),
            problems,
            chains_to_directory: issuer.is_some(),
            issuer: issuer.map(|i| pki::subject_dn(&i.der)).transpose()?,
            status,
            revocation_reason: record.as_ref().and_then(|c| c.revocation_reason),
            revoked_at: record.as_ref().and_then(|c| c.revoked_at),
            cert_type: record.as_ref().map(|c| c.cert_type),
            serial: presented.serial,
            subject: presented.subject,
            sha256,
            not_before: presented.not_before,
            not_after: presented.not_after,
            validity,
            organisation,
            software,
            log_index,
        })
    })
    .await
}

/// Sets a certificate's revocation state and keeps the keystore in step (a revoked signing
/// certificate's key moves to the revoked set), in the caller's transaction.
fn set_status(
    tx: &mut DbConnection,
    actor: &Actor,
    cert: &Certificate,
    status: CertStatus,
    reason: Option<RevocationReason>,
    action: &str,
    at: Timestamp,
) -> Result<()> {
    if !store::certificates::set_status(tx, &cert.serial, cert.status, status, reason, at)? {
        return Err(Error::Conflict(
            "the certificate changed meanwhile; reload and try again".into(),
        ));
    }
    if status != CertStatus::Good && cert.cert_type == CertType::Transport {
        // Tokens bound to it over mutual TLS stop with it.
        let der = openssl::x509::X509::from_pem(cert.pem.as_bytes())
            .and_then(|c| c.to_der())
            .map_err(|e| anyhow::anyhow!("a stored certificate cannot be read: {e}"))?;
        store::oauth::drop_certificate_tokens(tx, &certificate_thumbprint(&der))?;
    }
    if status == CertStatus::Revoked
        && cert.cert_type == CertType::Signing
        && let Some(kid) = store::keystore::kid_of_certificate(tx, &cert.serial)?
    {
        keystore::revoke(
            tx,
            actor,
            cert.organisation_id,
            Some(cert.software_id),
            &kid,
            "key.revoke",
            at,
        )?;
    }
    store::audit::record(
        tx,
        Entry::new(at, actor, action, "certificate", &cert.serial)
            .organisation(cert.organisation_id)
            .status(Some(cert.status.as_str()), Some(status.as_str()))
            .reason(reason.map(RevocationReason::as_str)),
    )?;
    Ok(())
}

/// Revokes a certificate with an RFC 5280 reason; members of the owner and operators.
/// Revocation is final.
pub async fn revoke(
    dir: &Arc<Directory>,
    actor: Actor,
    owner: Option<SoftwareId>,
    serial: Serial,
    reason: String,
) -> Result<Certificate> {
    let at = dir.now();
    let cert = dir
        .db(move |conn| {
            let reason = RevocationReason::parse_given(&reason)?;
            write_transaction(conn, |tx| {
                let cert = get_in(tx, &actor, &serial)?;
                // Asked about through a product, it must be that product's certificate.
                if owner.is_some_and(|owner| owner != cert.software_id) {
                    return Err(Error::NotFound("certificate"));
                }
                if cert.status == CertStatus::Revoked {
                    return Err(Error::Conflict("the certificate is already revoked".into()));
                }
                set_status(
                    tx,
                    &actor,
                    &cert,
                    CertStatus::Revoked,
                    Some(reason),
                    "certificate.revoke",
                    at,
                )?;
                get_in(tx, &actor, &serial)
            })
        })
        .await?;
    changed(dir).await?;
    Ok(cert)
}

/// Keeps certificates in step with a status change of their software or organisation, in the
/// caller's transaction: revoked owners revoke them, suspended owners put them on hold, and
/// reinstatement lifts the hold where both the software and its organisation are active.
pub fn follow_owner_status(
    tx: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    software: Option<SoftwareId>,
    next: Status,
    at: Timestamp,
) -> Result<usize> {
    let mut changed = 0;
    for cert in store::certificates::for_owner(tx, org, software)? {
        match (next, cert.status) {
            (Status::Revoked, CertStatus::Good | CertStatus::Hold) => set_status(
                tx,
                actor,
                &cert,
                CertStatus::Revoked,
                Some(RevocationReason::PrivilegeWithdrawn),
                "certificate.revoke",
                at,
            )?,
            (Status::Suspended, CertStatus::Good) => set_status(
                tx,
                actor,
                &cert,
                CertStatus::Hold,
                Some(RevocationReason::CertificateHold),
                "certificate.hold",
                at,
            )?,
            (Status::Active, CertStatus::Hold) => {
                let (own, organisation) = store::software::lock_statuses(tx, cert.software_id)?;
                if own != Status::Active || organisation != Status::Active {
                    continue;
                }
                set_status(
                    tx,
                    actor,
                    &cert,
                    CertStatus::Good,
                    None,
                    "certificate.release",
                    at,
                )?;
            }
            _ => continue,
        }
        changed += 1;
    }
    Ok(changed)
}

/// After a change of certificate status has committed here: no cached OCSP answer that could
/// contradict it, and a new CRL now (other instances' refreshers sign theirs, or find this
/// one, within `key_refresh_secs`).
pub async fn changed(dir: &Arc<Directory>) -> Result<()> {
    dir.ocsp_cache.clear();
    super::crl::refresh(dir).await
}

//! Issued certificates and their revocation state.

use diesel::prelude::*;

use super::schema::certificates;
use super::{DbConnection, id};
use crate::model::certificate::{
    CertStatus, CertType, Certificate, RevocationReason, RevocationState,
};
use crate::model::{OrgId, Result, Serial, SoftwareId, Timestamp, now};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = certificates)]
struct Row {
    serial: String,
    organisation_id: String,
    software_id: String,
    cert_type: String,
    subject: String,
    not_before: Timestamp,
    not_after: Timestamp,
    pem: String,
    status: String,
    revocation_reason: Option<String>,
    revoked_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl Row {
    fn into_certificate(self) -> Result<Certificate> {
        Ok(Certificate {
            serial: id("certificates.serial", &self.serial)?,
            organisation_id: id("certificates.organisation_id", &self.organisation_id)?,
            software_id: id("certificates.software_id", &self.software_id)?,
            cert_type: CertType::from_db(&self.cert_type)?,
            status: CertStatus::from_db(&self.status)?,
            revocation_reason: self
                .revocation_reason
                .as_deref()
                .map(RevocationReason::from_db)
                .transpose()?,
            subject: self.subject,
            not_before: self.not_before,
            not_after: self.not_after,
            pem: self.pem,
            revoked_at: self.revoked_at,
            created_at: self.created_at,
        })
    }
}

pub fn find(conn: &mut DbConnection, serial: &Serial) -> Result<Option<Certificate>> {
    certificates::table
        .find(serial.as_str())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_certificate)
        .transpose()
}

pub fn insert(conn: &mut DbConnection, cert: &Certificate) -> QueryResult<()> {
    diesel::insert_into(certificates::table)
        .values(Row {
            serial: cert.serial.to_string(),
            organisation_id: cert.organisation_id.to_string(),
            software_id: cert.software_id.to_string(),
            cert_type: cert.cert_type.as_str().into(),
            subject: cert.subject.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            pem: cert.pem.clone(),
            status: cert.status.as_str().into(),
            revocation_reason: cert.revocation_reason.map(|r| r.as_str().into()),
            revoked_at: cert.revoked_at,
            created_at: cert.created_at,
        })
        .execute(conn)
        .map(drop)
}

/// A product's certificates, newest first.
pub fn for_software(conn: &mut DbConnection, software: SoftwareId) -> Result<Vec<Certificate>> {
    certificates::table
        .filter(certificates::software_id.eq(software.to_string()))
        .select(Row::as_select())
        .order(certificates::created_at.desc())
        .load(conn)?
        .into_iter()
        .map(Row::into_certificate)
        .collect()
}

/// The certificates of an organisation, or of one of its products.
pub fn for_owner(
    conn: &mut DbConnection,
    org: OrgId,
    software: Option<SoftwareId>,
) -> Result<Vec<Certificate>> {
    let mut query = certificates::table
        .filter(certificates::organisation_id.eq(org.to_string()))
        .into_boxed();
    if let Some(id) = software {
        query = query.filter(certificates::software_id.eq(id.to_string()));
    }
    query
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_certificate)
        .collect()
}

/// Moves a certificate from `from` to `to` with a reason; false when it was no longer in
/// `from`.
pub fn set_status(
    conn: &mut DbConnection,
    serial: &Serial,
    from: CertStatus,
    to: CertStatus,
    reason: Option<RevocationReason>,
) -> QueryResult<bool> {
    let at = (to != CertStatus::Good).then(now);
    let updated = diesel::update(
        certificates::table
            .filter(certificates::serial.eq(serial.as_str()))
            .filter(certificates::status.eq(from.as_str())),
    )
    .set((
        certificates::status.eq(to.as_str()),
        certificates::revocation_reason.eq(reason.map(RevocationReason::as_str)),
        certificates::revoked_at.eq(at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

fn state_of(
    status: &str,
    reason: Option<String>,
    at: Option<Timestamp>,
) -> Result<RevocationState> {
    Ok(RevocationState {
        status: CertStatus::from_db(status)?,
        reason: reason
            .as_deref()
            .map(RevocationReason::from_db)
            .transpose()?,
        at,
    })
}

/// Every unexpired certificate that is revoked or on hold, by serial.
pub fn revoked(conn: &mut DbConnection) -> Result<Vec<(Serial, RevocationState)>> {
    let rows: Vec<(String, String, Option<String>, Option<Timestamp>)> = certificates::table
        .filter(certificates::status.ne(CertStatus::Good.as_str()))
        .filter(certificates::not_after.gt(now()))
        .select((
            certificates::serial,
            certificates::status,
            certificates::revocation_reason,
            certificates::revoked_at,
        ))
        .order(certificates::serial.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|(serial, status, reason, at)| {
            Ok((
                id("certificates.serial", &serial)?,
                state_of(&status, reason, at)?,
            ))
        })
        .collect()
}

/// The revocation state of one certificate, for OCSP: `None` when the serial is unknown.
pub fn state(conn: &mut DbConnection, serial: &Serial) -> Result<Option<RevocationState>> {
    let row: Option<(String, Option<String>, Option<Timestamp>)> = certificates::table
        .find(serial.as_str())
        .select((
            certificates::status,
            certificates::revocation_reason,
            certificates::revoked_at,
        ))
        .first(conn)
        .optional()?;
    row.map(|(status, reason, at)| state_of(&status, reason, at))
        .transpose()
}

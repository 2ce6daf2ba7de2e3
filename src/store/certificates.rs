//! Issued certificates and their revocation state.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::certificates;
use crate::model::certificate::{
    CertStatus, CertType, Certificate, RevocationReason, RevocationState,
};
use crate::model::{OrgId, Serial, SoftwareId, Timestamp};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = certificates)]
struct Row {
    issuer: Option<String>,
    serial: Serial,
    organisation_id: OrgId,
    software_id: SoftwareId,
    cert_type: CertType,
    subject: String,
    not_before: Timestamp,
    not_after: Timestamp,
    pem: String,
    status: CertStatus,
    revocation_reason: Option<RevocationReason>,
    revoked_at: Option<Timestamp>,
    created_at: Timestamp,
    sha256: Option<String>,
}

impl From<Row> for Certificate {
    fn from(row: Row) -> Self {
        Certificate {
            serial: row.serial,
            organisation_id: row.organisation_id,
            software_id: row.software_id,
            cert_type: row.cert_type,
            status: row.status,
            revocation_reason: row.revocation_reason,
            subject: row.subject,
            not_before: row.not_before,
            not_after: row.not_after,
            pem: row.pem,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
        }
    }
}

pub fn find(conn: &mut DbConnection, serial: &Serial) -> QueryResult<Option<Certificate>> {
    certificates::table
        .find(serial)
        .select(Row::as_select())
        .first(conn)
        .optional()
        .map(|row| row.map(Row::into))
}

/// Records a certificate the issuing CA `issuer` signed, with the SHA-256 of its DER
/// (lowercase hex).
pub fn insert(
    conn: &mut DbConnection,
    cert: &Certificate,
    issuer: &str,
    sha256: &str,
) -> QueryResult<()> {
    diesel::insert_into(certificates::table)
        .values(Row {
            issuer: Some(issuer.to_owned()),
            serial: cert.serial.clone(),
            organisation_id: cert.organisation_id,
            software_id: cert.software_id,
            cert_type: cert.cert_type,
            subject: cert.subject.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            pem: cert.pem.clone(),
            status: cert.status,
            revocation_reason: cert.revocation_reason,
            revoked_at: cert.revoked_at,
            created_at: cert.created_at,
            sha256: Some(sha256.to_owned()),
        })
        .execute(conn)
        .map(drop)
}

/// Gives the certificates recorded without a fingerprint (before migration
/// `certificate_fingerprints`) theirs, `fingerprint` of each one's PEM, a thousand at a time;
/// how many. One that `fingerprint` cannot read is left without and logged.
pub fn fill_fingerprints(
    conn: &mut DbConnection,
    fingerprint: impl Fn(&str) -> Option<String>,
) -> QueryResult<usize> {
    let mut filled = 0;
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String)> = certificates::table
            .filter(certificates::sha256.is_null())
            .filter(certificates::serial.gt(&after))
            .select((certificates::serial, certificates::pem))
            .order(certificates::serial)
            .limit(1000)
            .load(conn)?;
        let Some((last, _)) = rows.last() else {
            return Ok(filled);
        };
        after = last.clone();
        super::write_transaction(conn, |tx| {
            for (serial, pem) in &rows {
                let Some(sha256) = fingerprint(pem) else {
                    tracing::warn!(%serial, "a stored certificate is not readable PEM");
                    continue;
                };
                diesel::update(certificates::table.find(serial))
                    .set(certificates::sha256.eq(sha256))
                    .execute(tx)?;
                filled += 1;
            }
            QueryResult::Ok(())
        })?;
    }
}

/// A product's certificates, newest first.
pub fn for_software(
    conn: &mut DbConnection,
    software: SoftwareId,
) -> QueryResult<Vec<Certificate>> {
    let rows: Vec<Row> = certificates::table
        .filter(certificates::software_id.eq(software))
        .select(Row::as_select())
        .order(certificates::created_at.desc())
        .load(conn)?;
    Ok(rows.into_iter().map(Row::into).collect())
}

/// The certificates of an organisation, or of one of its products.
pub fn for_owner(
    conn: &mut DbConnection,
    org: OrgId,
    software: Option<SoftwareId>,
) -> QueryResult<Vec<Certificate>> {
    let mut query = certificates::table
        .filter(certificates::organisation_id.eq(org))
        .into_boxed();
    if let Some(id) = software {
        query = query.filter(certificates::software_id.eq(id));
    }
    let rows: Vec<Row> = query.select(Row::as_select()).load(conn)?;
    Ok(rows.into_iter().map(Row::into).collect())
}

/// Moves a certificate from `from` to `to` with a reason; false when it was no longer in
/// `from`.
pub fn set_status(
    conn: &mut DbConnection,
    serial: &Serial,
    from: CertStatus,
    to: CertStatus,
    reason: Option<RevocationReason>,
    at: Timestamp,
) -> QueryResult<bool> {
    let at = (to != CertStatus::Good).then_some(at);
    let updated = diesel::update(
        certificates::table
            .filter(certificates::serial.eq(serial))
            .filter(certificates::status.eq(from)),
    )
    .set((
        certificates::status.eq(to),
        certificates::revocation_reason.eq(reason),
        certificates::revoked_at.eq(at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Every unexpired certificate that is revoked or on hold, by serial.
/// A certificate's revocation state, the issuing CA its row names (none for rows from
/// before issuers were recorded) and its PEM (to tell those apart by their signature).
type StateRow = (
    Serial,
    CertStatus,
    Option<RevocationReason>,
    Option<Timestamp>,
    Option<String>,
    String,
);

/// [`StateRow`]'s columns.
type StateColumns = (
    certificates::serial,
    certificates::status,
    certificates::revocation_reason,
    certificates::revoked_at,
    certificates::issuer,
    certificates::pem,
);

const STATE_COLUMNS: StateColumns = (
    certificates::serial,
    certificates::status,
    certificates::revocation_reason,
    certificates::revoked_at,
    certificates::issuer,
    certificates::pem,
);

/// The revocation state, issuing CA and PEM of a [`StateRow`], without its serial.
type Stated = (RevocationState, Option<String>, String);

fn stated((_, status, reason, at, issuer, pem): StateRow) -> Stated {
    (RevocationState { status, reason, at }, issuer, pem)
}

/// Every unexpired certificate that is revoked or on hold, with its serial.
pub fn revoked(conn: &mut DbConnection, at: Timestamp) -> QueryResult<Vec<(Serial, Stated)>> {
    let rows: Vec<StateRow> = certificates::table
        .filter(certificates::status.ne(CertStatus::Good))
        .filter(certificates::not_after.gt(at))
        .select(STATE_COLUMNS)
        .order(certificates::serial.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.0.clone(), stated(row)))
        .collect())
}

/// The revocation state of a certificate with the issuing CA its row names and its PEM.
pub fn state_and_issuer(conn: &mut DbConnection, serial: &Serial) -> QueryResult<Option<Stated>> {
    let row: Option<StateRow> = certificates::table
        .find(serial)
        .select(STATE_COLUMNS)
        .first(conn)
        .optional()?;
    Ok(row.map(stated))
}

/// Active certificates that expire after `now` and by `horizon` without a reminder at
/// `threshold_days` yet, soonest first (at most `limit`).
pub fn expiring_unreminded(
    conn: &mut DbConnection,
    now: Timestamp,
    horizon: Timestamp,
    threshold_days: i32,
    limit: i64,
) -> QueryResult<Vec<Certificate>> {
    use super::schema::certificate_reminders;
    certificates::table
        .filter(certificates::status.eq(CertStatus::Good))
        .filter(certificates::not_after.gt(now))
        .filter(certificates::not_after.le(horizon))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            certificate_reminders::table
                .filter(certificate_reminders::serial.eq(certificates::serial))
                .filter(certificate_reminders::threshold_days.eq(threshold_days)),
        )))
        .order(certificates::not_after.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)
        .map(|rows| rows.into_iter().map(Row::into).collect())
}

/// Records the reminder of `serial` at `threshold_days`: false when one was recorded
/// already. Two instances recording it at once: one of them fails on the primary key
/// ([`super::is_unique_violation`]).
pub fn remember(
    conn: &mut DbConnection,
    serial: &Serial,
    threshold_days: i32,
    at: Timestamp,
) -> QueryResult<bool> {
    use super::schema::certificate_reminders;
    let known: bool = diesel::select(diesel::dsl::exists(
        certificate_reminders::table
            .filter(certificate_reminders::serial.eq(serial))
            .filter(certificate_reminders::threshold_days.eq(threshold_days)),
    ))
    .get_result(conn)?;
    if known {
        return Ok(false);
    }
    diesel::insert_into(certificate_reminders::table)
        .values((
            certificate_reminders::serial.eq(serial),
            certificate_reminders::threshold_days.eq(threshold_days),
            certificate_reminders::sent_at.eq(at),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

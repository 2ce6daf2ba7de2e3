//! The CRL: a DER list of revoked and held certificates, signed by the issuing CA, numbered
//! in the database so that every instance serves the latest and numbers only grow. A new one
//! is made when the revoked set changes and before the current one's nextUpdate.

use diesel::prelude::*;
use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use sha2::{Digest, Sha256};

use crate::db::schema::{certificates, crls};
use crate::db::{DbConnection, write_transaction};
use crate::directory::now;
use crate::error::AppError;

use super::Ca;

/// The latest CRL.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crls)]
pub struct Crl {
    pub number: i64,
    pub this_update: time::PrimitiveDateTime,
    pub next_update: time::PrimitiveDateTime,
    pub der: Vec<u8>,
    pub content_hash: String,
}

pub fn latest(conn: &mut DbConnection) -> QueryResult<Option<Crl>> {
    crls::table
        .select(Crl::as_select())
        .order(crls::number.desc())
        .first(conn)
        .optional()
}

fn reason(name: Option<&str>) -> Option<RevocationReason> {
    Some(match name? {
        "keyCompromise" => RevocationReason::KeyCompromise,
        "affiliationChanged" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessationOfOperation" => RevocationReason::CessationOfOperation,
        "certificateHold" => RevocationReason::CertificateHold,
        "privilegeWithdrawn" => RevocationReason::PrivilegeWithdrawn,
        _ => RevocationReason::Unspecified,
    })
}

type Entry = (
    String,
    String,
    Option<String>,
    Option<time::PrimitiveDateTime>,
);

/// Returns the current CRL, signing a new one first when the revoked set changed or the
/// current one is within a quarter of its validity of nextUpdate.
pub fn ensure_current(
    conn: &mut DbConnection,
    ca: &Ca,
    validity_secs: u64,
) -> Result<Crl, AppError> {
    write_transaction(conn, |tx| {
        let entries: Vec<Entry> = certificates::table
            .filter(certificates::status.ne("good"))
            .filter(certificates::not_after.gt(now()))
            .select((
                certificates::serial,
                certificates::status,
                certificates::revocation_reason,
                certificates::revoked_at,
            ))
            .order(certificates::serial.asc())
            .load(tx)?;
        let content_hash = hex::encode(Sha256::digest(format!("{entries:?}").as_bytes()));
        let current = latest(tx)?;
        let margin = time::Duration::seconds((validity_secs / 4) as i64);
        if let Some(crl) = &current
            && crl.content_hash == content_hash
            && crl.next_update - margin > now()
        {
            return Ok(crl.clone());
        }
        let number = current.as_ref().map_or(1, |c| c.number + 1);
        let this_update = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        let next_update = this_update + time::Duration::seconds(validity_secs as i64);
        let revoked_certs = entries
            .iter()
            .map(|(serial, _, why, at)| {
                let bytes = hex::decode(serial).map_err(|e| {
                    AppError::Unexpected(anyhow::anyhow!("corrupt serial {serial}: {e}"))
                })?;
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&bytes),
                    revocation_time: at.map_or(this_update, |t| t.assume_utc()),
                    reason_code: reason(why.as_deref()),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let signed = params
            .signed_by(&ca.issuer)
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("signing the CRL: {e}")))?;
        let crl = Crl {
            number,
            this_update: time::PrimitiveDateTime::new(this_update.date(), this_update.time()),
            next_update: time::PrimitiveDateTime::new(next_update.date(), next_update.time()),
            der: signed.der().to_vec(),
            content_hash,
        };
        diesel::insert_into(crls::table)
            .values((
                crls::number.eq(crl.number),
                crls::this_update.eq(crl.this_update),
                crls::next_update.eq(crl.next_update),
                crls::der.eq(&crl.der),
                crls::content_hash.eq(&crl.content_hash),
            ))
            .execute(tx)?;
        tracing::info!(number, revoked = entries.len(), "signed a new CRL");
        Ok(crl)
    })
}

//! The participant keystore: public JWKs of software products and organisations; a removed
//! key keeps its row, marked revoked.

use diesel::prelude::*;
use serde_json::Value;

use super::schema::participant_keys;
use super::{DbConnection, from_json};
use crate::model::keys::ParticipantKey;
use crate::model::{Kid, OrgId, Result, Serial, SoftwareId, Timestamp, now};

#[derive(Queryable, Selectable)]
#[diesel(table_name = participant_keys)]
struct Row {
    kid: String,
    jwk: String,
    certificate_serial: Option<String>,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl Row {
    fn into_key(self) -> Result<ParticipantKey> {
        Ok(ParticipantKey {
            jwk: from_json("participant_keys.jwk", &self.jwk)?,
            kid: Kid::from_trusted(self.kid),
            certificate_serial: self
                .certificate_serial
                .map(|s| super::id("participant_keys.certificate_serial", &s))
                .transpose()?,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// Live (`Some(false)`), revoked (`Some(true)`) or all keys of one owner, oldest first.
pub fn load(
    conn: &mut DbConnection,
    org: OrgId,
    software: Option<SoftwareId>,
    revoked: Option<bool>,
) -> Result<Vec<ParticipantKey>> {
    let mut query = participant_keys::table
        .filter(participant_keys::organisation_id.eq(org.to_string()))
        .into_boxed();
    query = match software {
        Some(id) => query.filter(participant_keys::software_id.eq(id.to_string())),
        None => query.filter(participant_keys::software_id.is_null()),
    };
    query = match revoked {
        Some(true) => query.filter(participant_keys::revoked_at.is_not_null()),
        Some(false) => query.filter(participant_keys::revoked_at.is_null()),
        None => query,
    };
    query
        .select(Row::as_select())
        .order((
            participant_keys::created_at.asc(),
            participant_keys::id.asc(),
        ))
        .load(conn)?
        .into_iter()
        .map(Row::into_key)
        .collect()
}

/// A key to publish.
pub struct NewKey<'a> {
    pub org: OrgId,
    pub software: Option<SoftwareId>,
    pub kid: &'a Kid,
    pub jwk: &'a Value,
    pub certificate: Option<&'a Serial>,
}

pub fn insert(conn: &mut DbConnection, key: &NewKey<'_>) -> QueryResult<Timestamp> {
    let at = now();
    diesel::insert_into(participant_keys::table)
        .values((
            participant_keys::id.eq(uuid::Uuid::new_v4().to_string()),
            participant_keys::organisation_id.eq(key.org.to_string()),
            participant_keys::software_id.eq(key.software.map(|s| s.to_string())),
            participant_keys::kid.eq(key.kid.as_str()),
            participant_keys::jwk.eq(key.jwk.to_string()),
            participant_keys::certificate_serial.eq(key.certificate.map(|s| s.to_string())),
            participant_keys::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(at)
}

/// Replaces the JWK of a live software key with `kid` (a renewed certificate for the same
/// key); false when there is none.
pub fn refresh_certificate_key(conn: &mut DbConnection, key: &NewKey<'_>) -> QueryResult<bool> {
    let updated = diesel::update(
        participant_keys::table
            .filter(participant_keys::organisation_id.eq(key.org.to_string()))
            .filter(participant_keys::software_id.eq(key.software.map(|s| s.to_string())))
            .filter(participant_keys::kid.eq(key.kid.as_str()))
            .filter(participant_keys::revoked_at.is_null()),
    )
    .set((
        participant_keys::jwk.eq(key.jwk.to_string()),
        participant_keys::certificate_serial.eq(key.certificate.map(|s| s.to_string())),
    ))
    .execute(conn)?;
    Ok(updated > 0)
}

/// Moves one live key to the revoked set; false when there is none with that kid.
pub fn revoke(
    conn: &mut DbConnection,
    org: OrgId,
    software: Option<SoftwareId>,
    kid: &Kid,
) -> QueryResult<bool> {
    let mut target = diesel::update(participant_keys::table)
        .filter(participant_keys::organisation_id.eq(org.to_string()))
        .filter(participant_keys::kid.eq(kid.as_str().to_owned()))
        .filter(participant_keys::revoked_at.is_null())
        .into_boxed();
    target = match software {
        Some(id) => target.filter(participant_keys::software_id.eq(id.to_string())),
        None => target.filter(participant_keys::software_id.is_null()),
    };
    let updated = target
        .set(participant_keys::revoked_at.eq(Some(now())))
        .execute(conn)?;
    Ok(updated > 0)
}

/// The live key published from a signing certificate, if any.
pub fn kid_of_certificate(conn: &mut DbConnection, serial: &Serial) -> QueryResult<Option<Kid>> {
    Ok(participant_keys::table
        .filter(participant_keys::certificate_serial.eq(serial.as_str()))
        .filter(participant_keys::revoked_at.is_null())
        .select(participant_keys::kid)
        .first::<String>(conn)
        .optional()?
        .map(Kid::from_trusted))
}

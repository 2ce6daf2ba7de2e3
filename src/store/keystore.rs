//! The participant keystore: public JWKs of software products and organisations; a removed
//! key keeps its row, marked revoked.

use diesel::prelude::*;
use serde_json::Value;

use super::schema::participant_keys;
use super::{DbConnection, from_json};
use crate::model::keys::ParticipantKey;
use crate::model::{Kid, OrgId, Serial, SoftwareId, Timestamp};

#[derive(Queryable, Selectable)]
#[diesel(table_name = participant_keys)]
struct Row {
    kid: Kid,
    jwk: String,
    certificate_serial: Option<Serial>,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl Row {
    fn into_key(self) -> QueryResult<ParticipantKey> {
        Ok(ParticipantKey {
            jwk: from_json("participant_keys.jwk", &self.jwk)?,
            kid: self.kid,
            certificate_serial: self.certificate_serial,
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
) -> QueryResult<Vec<ParticipantKey>> {
    let mut query = participant_keys::table
        .filter(participant_keys::organisation_id.eq(org))
        .into_boxed();
    query = match software {
        Some(id) => query.filter(participant_keys::software_id.eq(id)),
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
    pub thumbprint: &'a str,
    pub jwk: &'a Value,
    pub certificate: Option<&'a Serial>,
}

/// Why a key could not be published.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The owner has a live key with this kid.
    Kid,
    /// The owner has this key live already.
    Key,
    /// Every one of the owner's slots is taken.
    Full,
    /// Another upload took the free slot meanwhile; try again.
    Busy,
}

/// The slots of an owner's live keys.
fn live_slots(
    conn: &mut DbConnection,
    org: OrgId,
    software: Option<SoftwareId>,
) -> QueryResult<Vec<i32>> {
    let mut query = participant_keys::table
        .filter(participant_keys::organisation_id.eq(org))
        .filter(participant_keys::revoked_at.is_null())
        .into_boxed();
    query = match software {
        Some(id) => query.filter(participant_keys::software_id.eq(id)),
        None => query.filter(participant_keys::software_id.is_null()),
    };
    Ok(query
        .select(participant_keys::slot)
        .load::<Option<i32>>(conn)?
        .into_iter()
        .flatten()
        .collect())
}

/// Publishes a key in the owner's lowest free slot (of `slots`). The unique indexes on live
/// keys' kid, thumbprint and slot keep the limit and refuse duplicates even when uploads
/// race; a race on the slot is [`Refused::Busy`].
pub fn insert(
    conn: &mut DbConnection,
    key: &NewKey<'_>,
    slots: i32,
    at: Timestamp,
) -> QueryResult<Result<Timestamp, Refused>> {
    let taken = live_slots(conn, key.org, key.software)?;
    let Some(slot) = (0..slots).find(|s| !taken.contains(s)) else {
        return Ok(Err(Refused::Full));
    };
    let inserted = diesel::insert_into(participant_keys::table)
        .values((
            participant_keys::id.eq(uuid::Uuid::new_v4().to_string()),
            participant_keys::organisation_id.eq(key.org),
            participant_keys::software_id.eq(key.software),
            participant_keys::kid.eq(key.kid),
            participant_keys::thumbprint.eq(key.thumbprint),
            participant_keys::slot.eq(slot),
            participant_keys::jwk.eq(key.jwk.to_string()),
            participant_keys::certificate_serial.eq(key.certificate),
            participant_keys::created_at.eq(at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(Ok(at)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        )) => {
            let which = format!(
                "{} {}",
                info.message(),
                info.constraint_name().unwrap_or("")
            );
            Ok(Err(if which.contains("participant_keys_live_kid") {
                Refused::Kid
            } else if which.contains("participant_keys_live_thumbprint") {
                Refused::Key
            } else {
                Refused::Busy
            }))
        }
        Err(other) => Err(other),
    }
}

/// Live keys stored before thumbprints were: (row id, jwk), for the start-up backfill.
pub fn without_thumbprint(conn: &mut DbConnection) -> QueryResult<Vec<(String, String)>> {
    participant_keys::table
        .filter(participant_keys::thumbprint.is_null())
        .filter(participant_keys::revoked_at.is_null())
        .select((participant_keys::id, participant_keys::jwk))
        .load(conn)
}

pub fn set_thumbprint(conn: &mut DbConnection, id: &str, thumbprint: &str) -> QueryResult<()> {
    diesel::update(participant_keys::table.find(id))
        .set(participant_keys::thumbprint.eq(thumbprint))
        .execute(conn)
        .map(drop)
}

/// Replaces the JWK of a live software key with `kid` (a renewed certificate for the same
/// key); false when there is none.
pub fn refresh_certificate_key(conn: &mut DbConnection, key: &NewKey<'_>) -> QueryResult<bool> {
    let updated = diesel::update(
        participant_keys::table
            .filter(participant_keys::organisation_id.eq(key.org))
            .filter(participant_keys::software_id.eq(key.software.map(|s| s.to_string())))
            .filter(participant_keys::kid.eq(key.kid))
            .filter(participant_keys::revoked_at.is_null()),
    )
    .set((
        participant_keys::jwk.eq(key.jwk.to_string()),
        participant_keys::thumbprint.eq(key.thumbprint),
        participant_keys::certificate_serial.eq(key.certificate),
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
    at: Timestamp,
) -> QueryResult<bool> {
    let mut target = diesel::update(participant_keys::table)
        .filter(participant_keys::organisation_id.eq(org))
        .filter(participant_keys::kid.eq(kid.as_str().to_owned()))
        .filter(participant_keys::revoked_at.is_null())
        .into_boxed();
    target = match software {
        Some(id) => target.filter(participant_keys::software_id.eq(id)),
        None => target.filter(participant_keys::software_id.is_null()),
    };
    let updated = target
        .set(participant_keys::revoked_at.eq(Some(at)))
        .execute(conn)?;
    Ok(updated > 0)
}

/// The live key published from a signing certificate, if any.
pub fn kid_of_certificate(conn: &mut DbConnection, serial: &Serial) -> QueryResult<Option<Kid>> {
    Ok(participant_keys::table
        .filter(participant_keys::certificate_serial.eq(serial))
        .filter(participant_keys::revoked_at.is_null())
        .select(participant_keys::kid)
        .first::<String>(conn)
        .optional()?
        .map(Kid::from_trusted))
}

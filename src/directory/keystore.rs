//! The participant keystore: public JWKs that members upload for a software product or for
//! their organisation, published as JWKS documents; a removed key moves to the revoked set.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::db::schema::{participant_keys, software};
use crate::db::{DbConnection, write_transaction};
use crate::documents::Published;
use crate::error::AppError;
use crate::keys::jwk::PublicJwk;

use super::access::Actor;
use super::audit::Event;
use super::software::Grant;
use super::status::Status;
use super::{from_json, now};

/// At most this many live keys per software product or organisation.
pub const MAX_KEYS: i64 = 20;

/// Whose keys: a software product's or the organisation's own.
#[derive(Debug, Clone)]
pub enum Owner {
    Software(String),
    Organisation(String),
}

/// An uploaded key as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantKey {
    pub kid: String,
    pub jwk: Value,
    pub certificate_serial: Option<String>,
    #[serde(with = "super::rfc3339")]
    pub created_at: time::PrimitiveDateTime,
    #[serde(with = "super::rfc3339::option")]
    pub revoked_at: Option<time::PrimitiveDateTime>,
}

impl ParticipantKey {
    /// "RSA" or "EC P-256" and the like, for people.
    pub fn kind(&self) -> String {
        let kty = self.jwk["kty"].as_str().unwrap_or("?");
        match self.jwk["crv"].as_str() {
            Some(crv) => format!("{kty} {crv}"),
            None => kty.to_owned(),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = participant_keys)]
struct KeyRow {
    kid: String,
    jwk: String,
    certificate_serial: Option<String>,
    created_at: time::PrimitiveDateTime,
    revoked_at: Option<time::PrimitiveDateTime>,
}

impl KeyRow {
    fn view(self) -> Result<ParticipantKey, AppError> {
        Ok(ParticipantKey {
            jwk: from_json("participant_keys.jwk", &self.jwk)?,
            kid: self.kid,
            certificate_serial: self.certificate_serial,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// What a caller wants to do with an owner's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Read,
    /// Publish a new key: only an active product of an active organisation (or an active
    /// organisation, for its own keys) may, as for statements and certificates.
    Add,
    /// Move a key to the revoked set: always allowed, whatever the owner's status.
    Remove,
}

/// Resolves the owner to (organisation id, software id) after checking the actor's access:
/// members manage software keys, admins the organisation's keys; operators both.
fn authorize(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &Owner,
    purpose: Use,
) -> Result<(String, Option<String>), AppError> {
    match owner {
        Owner::Software(id) => {
            let (product, org, _) = super::software::get(conn, actor, id)?;
            if purpose == Use::Add {
                product
                    .eligibility(org.status)
                    .map_err(|why| why.refusal(Grant::Key))?;
            }
            Ok((product.organisation_id, Some(product.id)))
        }
        Owner::Organisation(id) => {
            let (org, access) = super::organisations::get(conn, actor, id)?;
            if purpose != Use::Read {
                access.require_admin()?;
            }
            if purpose == Use::Add && org.status != Status::Active {
                return Err(AppError::Conflict(format!(
                    "the organisation is {}; only an active organisation gets new keys in its keystore",
                    org.status
                )));
            }
            Ok((id.clone(), None))
        }
    }
}

/// Live or revoked keys of one owner, oldest first.
fn load(
    conn: &mut DbConnection,
    organisation_id: &str,
    software_id: Option<&str>,
    revoked: Option<bool>,
) -> Result<Vec<ParticipantKey>, AppError> {
    let mut query = participant_keys::table
        .filter(participant_keys::organisation_id.eq(organisation_id.to_owned()))
        .into_boxed();
    query = match software_id {
        Some(id) => query.filter(participant_keys::software_id.eq(id.to_owned())),
        None => query.filter(participant_keys::software_id.is_null()),
    };
    query = match revoked {
        Some(true) => query.filter(participant_keys::revoked_at.is_not_null()),
        Some(false) => query.filter(participant_keys::revoked_at.is_null()),
        None => query,
    };
    query
        .select(KeyRow::as_select())
        .order((
            participant_keys::created_at.asc(),
            participant_keys::id.asc(),
        ))
        .load(conn)?
        .into_iter()
        .map(KeyRow::view)
        .collect()
}

/// The owner's keys, live and revoked.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &Owner,
) -> Result<Vec<ParticipantKey>, AppError> {
    let (org, software) = authorize(conn, actor, owner, Use::Read)?;
    load(conn, &org, software.as_deref(), None)
}

/// Adds a public key; refuses private or symmetric keys, weak or unsupported ones, duplicates
/// and more than [`MAX_KEYS`] live keys.
pub fn upload(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &Owner,
    jwk: &Value,
) -> Result<ParticipantKey, AppError> {
    let key = PublicJwk::parse(jwk)?;
    write_transaction(conn, |tx| {
        let (org, software) = authorize(tx, actor, owner, Use::Add)?;
        insert(tx, actor, &org, software.as_deref(), &key, None)
    })
}

/// Inserts a checked key for an owner (also used for keys derived from signing certificates).
pub fn insert(
    tx: &mut DbConnection,
    actor: &Actor,
    organisation_id: &str,
    software_id: Option<&str>,
    key: &PublicJwk,
    certificate_serial: Option<&str>,
) -> Result<ParticipantKey, AppError> {
    let live = load(tx, organisation_id, software_id, Some(false))?;
    if live.len() as i64 >= MAX_KEYS {
        return Err(AppError::Conflict(format!(
            "at most {MAX_KEYS} keys may be published; remove one first"
        )));
    }
    for existing in &live {
        if existing.kid == key.kid {
            return Err(AppError::Conflict(format!(
                "a key with kid {:?} is already published",
                key.kid
            )));
        }
        if PublicJwk::parse(&existing.jwk).is_ok_and(|e| e.thumbprint == key.thumbprint) {
            return Err(AppError::Conflict(format!(
                "this key is already published (kid {:?})",
                existing.kid
            )));
        }
    }
    let at = now();
    diesel::insert_into(participant_keys::table)
        .values((
            participant_keys::id.eq(uuid::Uuid::new_v4().to_string()),
            participant_keys::organisation_id.eq(organisation_id),
            participant_keys::software_id.eq(software_id),
            participant_keys::kid.eq(&key.kid),
            participant_keys::jwk.eq(Value::Object(key.jwk.clone()).to_string()),
            participant_keys::certificate_serial.eq(certificate_serial),
            participant_keys::created_at.eq(at),
        ))
        .execute(tx)?;
    let subject = software_id.unwrap_or(organisation_id);
    Event::new(actor, "key.upload", "participant_key", &key.kid)
        .organisation(organisation_id)
        .details(json!({"owner": subject, "thumbprint": key.thumbprint, "certificate": certificate_serial}))
        .record(tx)?;
    Ok(ParticipantKey {
        kid: key.kid.clone(),
        jwk: Value::Object(key.jwk.clone()),
        certificate_serial: certificate_serial.map(str::to_owned),
        created_at: at,
        revoked_at: None,
    })
}

/// Moves a live key to the revoked set.
pub fn remove(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &Owner,
    kid: &str,
) -> Result<(), AppError> {
    write_transaction(conn, |tx| {
        let (org, software) = authorize(tx, actor, owner, Use::Remove)?;
        revoke(tx, actor, &org, software.as_deref(), kid, "key.remove")
    })
}

/// Marks one live key revoked; 404 when there is none with that kid.
pub fn revoke(
    tx: &mut DbConnection,
    actor: &Actor,
    organisation_id: &str,
    software_id: Option<&str>,
    kid: &str,
    action: &str,
) -> Result<(), AppError> {
    let mut target = diesel::update(participant_keys::table)
        .filter(participant_keys::organisation_id.eq(organisation_id.to_owned()))
        .filter(participant_keys::kid.eq(kid.to_owned()))
        .filter(participant_keys::revoked_at.is_null())
        .into_boxed();
    target = match software_id {
        Some(id) => target.filter(participant_keys::software_id.eq(id.to_owned())),
        None => target.filter(participant_keys::software_id.is_null()),
    };
    let updated = target
        .set(participant_keys::revoked_at.eq(Some(now())))
        .execute(tx)?;
    if updated == 0 {
        return Err(AppError::NotFound("key"));
    }
    Event::new(actor, action, "participant_key", kid)
        .organisation(organisation_id)
        .details(json!({"owner": software_id.unwrap_or(organisation_id)}))
        .record(tx)?;
    Ok(())
}

/// The public JWKS of `/keystore/{org_id}/[revoked/]{name}.jwks`: `name` is the organisation
/// id (its own keys) or one of its software ids. 404 for anything else.
pub fn document(
    conn: &mut DbConnection,
    organisation_id: &str,
    name: &str,
    revoked: bool,
) -> Result<Published, AppError> {
    let software_id = if name == organisation_id {
        let exists: i64 = crate::db::schema::organisations::table
            .find(organisation_id)
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(AppError::NotFound("keystore"));
        }
        None
    } else {
        let belongs: i64 = software::table
            .filter(software::id.eq(name))
            .filter(software::organisation_id.eq(organisation_id))
            .count()
            .get_result(conn)?;
        if belongs == 0 {
            return Err(AppError::NotFound("keystore"));
        }
        Some(name)
    };
    let keys: Vec<Value> = load(conn, organisation_id, software_id, Some(revoked))?
        .into_iter()
        .map(|k| k.jwk)
        .collect();
    Ok(Published::json(&json!({ "keys": keys })))
}

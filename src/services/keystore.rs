//! The participant keystore: public keys that members upload for a software product or for
//! their organisation, published as JWKS documents; a removed key moves to the revoked set.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Directory;
use crate::documents::Published;
use crate::keys::jwk::PublicJwk;
use crate::model::audit::Entry;
use crate::model::keys::{KeyOwner, MAX_KEYS, ParticipantKey};
use crate::model::software::Grant;
use crate::model::{Actor, Error, Kid, OrgId, Result, Serial, SoftwareId, Status, Timestamp};
use crate::store::keystore::{NewKey, Refused};
use crate::store::{self, DbConnection, write_transaction};

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

/// Resolves the owner to (organisation, software) after checking the actor's access:
/// members manage software keys, admins the organisation's keys; operators both.
fn authorize(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: KeyOwner,
    purpose: Use,
) -> Result<(OrgId, Option<SoftwareId>)> {
    match owner {
        KeyOwner::Software(id) => {
            let (product, org, _) = super::access::software(conn, actor, id)?;
            if purpose == Use::Add {
                product
                    .eligibility(org.status)
                    .map_err(|why| why.refusal(Grant::Key))?;
            }
            Ok((product.organisation_id, Some(product.id)))
        }
        KeyOwner::Organisation(id) => {
            let (org, access) = super::access::organisation(conn, actor, id)?;
            if purpose != Use::Read {
                access.require_admin()?;
            }
            if purpose == Use::Add && org.status != Status::Active {
                return Err(Error::Conflict(format!(
                    "the organisation is {}; only an active organisation gets new keys in its keystore",
                    org.status
                )));
            }
            Ok((id, None))
        }
    }
}

/// The owner's keys, live and revoked, oldest first.
pub fn list_in(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: KeyOwner,
) -> Result<Vec<ParticipantKey>> {
    let (org, software) = authorize(conn, actor, owner, Use::Read)?;
    Ok(store::keystore::load(conn, org, software, None)?)
}

pub async fn list(
    dir: &Arc<Directory>,
    actor: Actor,
    owner: KeyOwner,
) -> Result<Vec<ParticipantKey>> {
    dir.db(move |conn| list_in(conn, &actor, owner)).await
}

/// Adds a public key; refuses private or symmetric keys, weak or unsupported ones, duplicates
/// and more than [`MAX_KEYS`] live keys, also when uploads race (the store's unique indexes
/// decide; an upload that lost a race for the free slot tries again).
pub async fn upload(
    dir: &Arc<Directory>,
    actor: Actor,
    owner: KeyOwner,
    jwk: Value,
) -> Result<ParticipantKey> {
    let at = dir.now();
    dir.db(move |conn| {
        let key = PublicJwk::parse(&jwk)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = write_transaction(conn, |tx| {
                let (org, software) = authorize(tx, &actor, owner, Use::Add)?;
                insert(tx, &actor, org, software, &key, None, at)
            });
            match outcome {
                Err(Error::Conflict(message)) if message == BUSY && attempts < 2 * MAX_KEYS => {
                    continue;
                }
                other => return other,
            }
        }
    })
    .await
}

/// The conflict of an upload that lost a race for the owner's free slot.
const BUSY: &str = "another key was published meanwhile; try again";

/// Inserts a checked key for an owner (also used for keys of signing certificates), in the
/// caller's transaction.
pub fn insert(
    tx: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    software: Option<SoftwareId>,
    key: &PublicJwk,
    certificate: Option<&Serial>,
    at: Timestamp,
) -> Result<ParticipantKey> {
    let kid = Kid::parse("jwk.kid", &key.kid)?;
    let jwk = Value::Object(key.jwk.clone());
    let new = NewKey {
        org,
        software,
        kid: &kid,
        thumbprint: &key.thumbprint,
        jwk: &jwk,
        certificate,
    };
    let created_at = match store::keystore::insert(tx, &new, MAX_KEYS as i32, at)? {
        Ok(at) => at,
        Err(Refused::Full) => {
            return Err(Error::Conflict(format!(
                "at most {MAX_KEYS} keys may be published; remove one first"
            )));
        }
        Err(Refused::Kid) => {
            return Err(Error::Conflict(format!(
                "a key with kid {:?} is already published",
                key.kid
            )));
        }
        Err(Refused::Key) => {
            let existing = store::keystore::load(tx, org, software, Some(false))?
                .into_iter()
                .find(|k| PublicJwk::parse(&k.jwk).is_ok_and(|e| e.thumbprint == key.thumbprint))
                .map(|k| k.kid.as_str().to_owned())
                .unwrap_or_default();
            return Err(Error::Conflict(format!(
                "this key is already published (kid {existing:?})"
            )));
        }
        Err(Refused::Busy) => return Err(Error::Conflict(BUSY.into())),
    };
    let subject = software.map_or(org.to_string(), |s| s.to_string());
    store::audit::record(
        tx,
        Entry::new(at, actor, "key.upload", "participant_key", kid.as_str())
            .organisation(org)
            .details(
                json!({"owner": subject, "thumbprint": key.thumbprint, "certificate": certificate}),
            ),
    )?;
    Ok(ParticipantKey {
        kid,
        jwk,
        certificate_serial: certificate.cloned(),
        created_at,
        revoked_at: None,
    })
}

/// Fills in the thumbprints of live keys stored before the store kept them (at start).
pub fn backfill_thumbprints(conn: &mut DbConnection) -> Result<usize> {
    let rows = store::keystore::without_thumbprint(conn)?;
    for (id, jwk) in &rows {
        let jwk: Value = store::from_json("participant_keys.jwk", jwk)?;
        let key = PublicJwk::parse(&jwk)?;
        store::keystore::set_thumbprint(conn, id, &key.thumbprint)?;
    }
    Ok(rows.len())
}

/// Publishes a signing certificate's key in the software keystore; a key already published
/// (a renewed certificate for the same key) is updated to carry the new certificate.
pub fn publish_certificate_key(
    tx: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    software: SoftwareId,
    key: &PublicJwk,
    serial: &Serial,
    at: Timestamp,
) -> Result<()> {
    let kid = Kid::from_trusted(key.kid.clone());
    let jwk = Value::Object(key.jwk.clone());
    let new = NewKey {
        org,
        software: Some(software),
        kid: &kid,
        thumbprint: &key.thumbprint,
        jwk: &jwk,
        certificate: Some(serial),
    };
    if !store::keystore::refresh_certificate_key(tx, &new)? {
        insert(tx, actor, org, Some(software), key, Some(serial), at)?;
    }
    Ok(())
}

/// Moves a live key to the revoked set; allowed whatever the owner's status.
pub async fn remove(dir: &Arc<Directory>, actor: Actor, owner: KeyOwner, kid: Kid) -> Result<()> {
    let at = dir.now();
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let (org, software) = authorize(tx, &actor, owner, Use::Remove)?;
            revoke(tx, &actor, org, software, &kid, "key.remove", at)
        })
    })
    .await
}

/// Marks one live key revoked, in the caller's transaction; 404 when there is none with that
/// kid.
pub fn revoke(
    tx: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    software: Option<SoftwareId>,
    kid: &Kid,
    action: &str,
    at: Timestamp,
) -> Result<()> {
    if !store::keystore::revoke(tx, org, software, kid, at)? {
        return Err(Error::NotFound("key"));
    }
    let owner = software.map_or(org.to_string(), |s| s.to_string());
    store::audit::record(
        tx,
        Entry::new(at, actor, action, "participant_key", kid.as_str())
            .organisation(org)
            .details(json!({ "owner": owner })),
    )?;
    Ok(())
}

/// The public JWKS of `/keystore/{org_id}/[revoked/]{name}.jwks`: `name` is the organisation
/// id (its own keys) or one of its software ids. 404 for anything else.
pub async fn document(
    dir: &Arc<Directory>,
    org: String,
    name: String,
    revoked: bool,
) -> Result<Published> {
    let not_found = || Error::NotFound("keystore");
    let org: OrgId = org.parse().map_err(|_| not_found())?;
    dir.db(move |conn| {
        let software = if name == org.to_string() {
            if !store::organisations::exists(conn, org)? {
                return Err(not_found());
            }
            None
        } else {
            let product: SoftwareId = name.parse().map_err(|_| not_found())?;
            if !store::software::belongs(conn, product, org)? {
                return Err(not_found());
            }
            Some(product)
        };
        let keys: Vec<Value> = store::keystore::load(conn, org, software, Some(revoked))?
            .into_iter()
            .map(|k| k.jwk)
            .collect();
        Ok(Published::json(&json!({ "keys": keys })))
    })
    .await
}

/// The live keys of an organisation's keystore (`software` `None`) or of one of its products,
/// as JWK objects: what their signatures are checked against.
pub(crate) fn live_jwks(
    conn: &mut DbConnection,
    org: OrgId,
    software: Option<SoftwareId>,
) -> Result<Vec<serde_json::Map<String, Value>>> {
    Ok(store::keystore::load(conn, org, software, Some(false))?
        .into_iter()
        .filter_map(|k| match k.jwk {
            Value::Object(jwk) => Some(jwk),
            _ => None,
        })
        .collect())
}

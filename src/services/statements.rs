//! Issuing software statements: who asks, whether the product may get one, the signature with
//! the active key, and the record (jti, software, kid, times, who) with its audit event, group
//! committed before the statement is handed out.

use std::sync::Arc;

use serde_json::json;

use super::Directory;
use super::recorder::Record;
use crate::keys::credentials;
use crate::model::Status;
use crate::model::account::User;
use crate::model::audit::Entry;
use crate::model::discovery::{SoftwareStatus, StatementState, StatementStatus, StatementSummary};
use crate::model::keys::{KeyPurpose, KeyState, SigningKey};
use crate::model::organisation::Organisation;
use crate::model::software::{Grant, Software};
use crate::model::{Access, Actor, Error, Result, SoftwareId, Timestamp};
use crate::ssa::{KeystoreUrls, Stamp, claims};
use crate::store::statements::{IssuedSsa, StatementRecord};
use crate::store::{self, DbConnection, write_transaction};

/// Who asks for a statement.
pub enum Caller {
    /// A signed-in portal user (or the command line).
    Actor(Actor),
    /// The secret of an API token, not yet checked: it is checked in the same database call
    /// as the rest of the issuance.
    Token(String),
}

/// An issued statement.
pub struct Issued {
    pub jwt: String,
    pub jti: String,
}

/// What an issuance reads: who asks, the product, its organisation, the signing key.
struct Basis {
    actor: Actor,
    product: Software,
    org: Organisation,
    key: SigningKey,
}

/// The token's user, the product, its organisation, the caller's membership and the active
/// key in one statement; when that finds nothing, the step-by-step path says which is
/// missing (an unknown token is a 401, an unknown or foreign product a 404).
fn basis(
    conn: &mut DbConnection,
    caller: Caller,
    product: SoftwareId,
    at: Timestamp,
) -> Result<Basis> {
    if let Caller::Token(secret) = &caller
        && let Some(hash) = credentials::token_key(secret)
        && let Some(found) = store::statements::basis_by_token(conn, &hash, product, at)?
    {
        let actor = User::actor(&found.user);
        if !actor.is_operator() {
            // Another organisation's product is not found, exactly as on the step-by-step path.
            Access::of_member(found.role).map_err(|_| Error::NotFound("software"))?;
        }
        return Ok(Basis {
            actor,
            product: found.product,
            org: found.org,
            key: found.key,
        });
    }
    // One snapshot for the reads (and, on SQLite, one read lock instead of one per query).
    diesel::Connection::transaction(conn, |tx| {
        let actor = match caller {
            Caller::Actor(actor) => actor,
            Caller::Token(secret) => super::accounts::authenticate_token_in(tx, &secret, at)?,
        };
        let (product, org, _) = super::access::software(tx, &actor, product)?;
        let key = store::signing_keys::in_state(tx, KeyPurpose::Ssa, KeyState::Active)?
            .ok_or_else(|| Error::Unavailable("no active signing key".into()))?;
        Ok(Basis {
            actor,
            product,
            org,
            key,
        })
    })
}

/// Issues a statement for an active product of an active organisation, for its members and
/// operators: checks and signs on the blocking pool, then records the jti and the audit event
/// through the recorder (group commit) before the statement is returned.
pub async fn issue(dir: &Arc<Directory>, caller: Caller, product: SoftwareId) -> Result<Issued> {
    let at = dir.now();
    let shared = dir.clone();
    // The connection goes back to the pool before the signature: holding it while signing
    // made the recorder and the other requests queue for one.
    let (issued, record) = dir
        .db_then(
            move |conn| basis(conn, caller, product, at),
            move |Basis {
                      actor,
                      product,
                      org,
                      key,
                  }| {
                product
                    .eligibility(org.status)
                    .map_err(|why| why.refusal(Grant::Statement))?;
                let issued_at = at;
                let expires_at =
                    issued_at + time::Duration::seconds(shared.config.ssa_lifetime_secs as i64);
                let stamp = Stamp {
                    issuer: shared.issuer.clone(),
                    iat: issued_at.assume_utc().unix_timestamp(),
                    exp: expires_at.assume_utc().unix_timestamp(),
                    jti: uuid::Uuid::new_v4().to_string(),
                };
                let urls = KeystoreUrls::new(&shared.public_url, org.id, product.id);
                let claims = claims(shared.config.ssa_profile, &stamp, &product, &org, &urls);
                let jwt = shared.keyring.sign(&key, &claims)?;
                let record = Record {
                    issued: IssuedSsa::new(
                        &stamp.jti,
                        &product,
                        &key.kid,
                        actor.audit_name(),
                        issued_at,
                        expires_at,
                    ),
                    event: Entry::new(at, &actor, "ssa.issue", "software", product.id)
                        .organisation(org.id)
                        .details(json!({"jti": stamp.jti, "kid": key.kid, "exp": stamp.exp})),
                    jwt: jwt.clone(),
                };
                Ok((
                    Issued {
                        jwt,
                        jti: stamp.jti,
                    },
                    record,
                ))
            },
        )
        .await?;
    dir.recorder.record(record).await?;
    Ok(issued)
}

/// A statement's own status and its product's; unknown jtis are not found.
pub async fn status(dir: &Arc<Directory>, jti: String) -> Result<StatementStatus> {
    let at = dir.now();
    dir.db(move |conn| {
        let record = store::statements::find(conn, &jti)?.ok_or(Error::NotFound("statement"))?;
        let product = record.software_id;
        let software = store::discovery::software_status(conn, product)?
            .ok_or(Error::NotFound("statement"))?;
        Ok(status_of(record, software, at))
    })
    .await
}

/// Where a recorded statement stands at `at`.
pub fn state_of(record: &StatementRecord, at: Timestamp) -> StatementState {
    if record.revoked_at.is_some() {
        StatementState::Revoked
    } else if record.expires_at <= at {
        StatementState::Expired
    } else {
        StatementState::Issued
    }
}

/// The latest statements of a product, as its page lists them.
pub fn recent_in(
    conn: &mut DbConnection,
    product: SoftwareId,
    at: Timestamp,
) -> Result<Vec<StatementSummary>> {
    Ok(store::statements::for_software(conn, product, 20)?
        .into_iter()
        .map(|record| StatementSummary {
            state: state_of(&record, at),
            jti: record.jti,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            revocation_reason: record.revoked_reason,
        })
        .collect())
}

fn status_of(record: StatementRecord, software: SoftwareStatus, at: Timestamp) -> StatementStatus {
    let state = state_of(&record, at);
    StatementStatus {
        jti: record.jti,
        state,
        usable: state == StatementState::Issued && software.status == Status::Active,
        issued_at: record.issued_at,
        expires_at: record.expires_at,
        revoked_at: record.revoked_at,
        revocation_reason: record.revoked_reason,
        software,
    }
}

/// Revokes a statement before its expiry, for the product's members and operators, with a
/// reason; audited as `ssa.revoke` with the `statement-revoked` change event. Another
/// organisation's statement is not found; one already revoked is a conflict.
pub async fn revoke(
    dir: &Arc<Directory>,
    actor: Actor,
    owner: Option<SoftwareId>,
    jti: String,
    reason: String,
) -> Result<StatementStatus> {
    let at = dir.now();
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.len() > 500 {
        return Err(crate::model::invalid(
            "reason",
            "say why, in 1 to 500 characters",
        ));
    }
    dir.db(move |conn| {
        write_transaction(conn, |tx| {
            let record = store::statements::find(tx, &jti)?.ok_or(Error::NotFound("statement"))?;
            let product = record.software_id;
            // Asked about through a product (the portal's page of one), it must be that
            // product's statement: refused before anything changes.
            if owner.is_some_and(|owner| owner != product) {
                return Err(Error::NotFound("statement"));
            }
            let (_, org, _) = super::access::software(tx, &actor, product)
                .map_err(|_| Error::NotFound("statement"))?;
            if !store::statements::revoke(tx, &jti, at, &reason)? {
                return Err(Error::Conflict("the statement is already revoked".into()));
            }
            store::audit::record(
                tx,
                Entry::new(at, &actor, "ssa.revoke", "software", product)
                    .organisation(org.id)
                    .reason(Some(&reason))
                    .details(json!({"jti": jti})),
            )?;
            let software = store::discovery::software_status(tx, product)?
                .ok_or(Error::NotFound("statement"))?;
            let record = store::statements::find(tx, &jti)?.ok_or(Error::NotFound("statement"))?;
            Ok(status_of(record, software, at))
        })
    })
    .await
}

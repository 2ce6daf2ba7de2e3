//! The state of the directory's signing keys, shared by every instance through the database:
//! `next` -> `active` -> `retired` -> `removed`, for each purpose (SSA and events, or
//! federation). The private keys live in `keys/signing/` and `keys/federation/`, or in a PKCS#11
//! token; each row names where (`reference`).

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{issued_ssas, signing_keys};
use crate::model::keys::{KeyPurpose, KeyState, SigningKey};
use crate::model::{Kid, Timestamp};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub(super) struct SigningKeyRow {
    kid: Kid,
    alg: String,
    public_jwk: String,
    state: KeyState,
    created_at: Timestamp,
    activated_at: Option<Timestamp>,
    retired_at: Option<Timestamp>,
    removed_at: Option<Timestamp>,
    purpose: KeyPurpose,
    reference: Option<String>,
    evidence: Option<String>,
}

impl SigningKeyRow {
    pub(super) fn into_key(self) -> QueryResult<SigningKey> {
        Ok(SigningKey {
            state: self.state,
            purpose: self.purpose,
            kid: self.kid,
            alg: self.alg,
            public_jwk: self.public_jwk,
            created_at: self.created_at,
            retired_at: self.retired_at,
            reference: self.reference,
            evidence: self.evidence,
        })
    }
}

/// Every key of this purpose, oldest first.
pub fn all(conn: &mut DbConnection, purpose: KeyPurpose) -> QueryResult<Vec<SigningKey>> {
    signing_keys::table
        .filter(signing_keys::purpose.eq(purpose))
        .select(SigningKeyRow::as_select())
        .order(signing_keys::created_at.asc())
        .load(conn)?
        .into_iter()
        .map(SigningKeyRow::into_key)
        .collect()
}

pub fn find(conn: &mut DbConnection, kid: &Kid) -> QueryResult<Option<SigningKey>> {
    signing_keys::table
        .find(kid)
        .select(SigningKeyRow::as_select())
        .first(conn)
        .optional()?
        .map(SigningKeyRow::into_key)
        .transpose()
}

/// The key of this purpose in a live state (`active` or `next`; at most one each).
pub fn in_state(
    conn: &mut DbConnection,
    purpose: KeyPurpose,
    state: KeyState,
) -> QueryResult<Option<SigningKey>> {
    signing_keys::table
        .filter(signing_keys::purpose.eq(purpose))
        .filter(signing_keys::state.eq(state))
        .select(SigningKeyRow::as_select())
        .first(conn)
        .optional()?
        .map(SigningKeyRow::into_key)
        .transpose()
}

/// Whether the key still vouches for statements it signed (active or retired).
pub fn vouches(conn: &mut DbConnection, kid: &Kid) -> QueryResult<bool> {
    let state: Option<KeyState> = signing_keys::table
        .find(kid)
        .select(signing_keys::state)
        .first(conn)
        .optional()?;
    Ok(state.is_some_and(KeyState::vouches))
}

/// Records a key: its public JWK, where its private half lives and what the token said of
/// it (see [`SigningKey`]).
#[allow(clippy::too_many_arguments)]
pub fn insert(
    conn: &mut DbConnection,
    kid: &Kid,
    alg: &str,
    public_jwk: &str,
    state: KeyState,
    purpose: KeyPurpose,
    held: &crate::model::keys::Held,
    at: Timestamp,
) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(SigningKeyRow {
            kid: kid.clone(),
            alg: alg.to_owned(),
            public_jwk: public_jwk.to_owned(),
            state,
            created_at: at,
            activated_at: (state == KeyState::Active).then_some(at),
            retired_at: (state == KeyState::Retired).then_some(at),
            removed_at: None,
            purpose,
            reference: Some(held.reference.clone()),
            evidence: held.evidence.clone(),
        })
        .execute(conn)
        .map(drop)
}

/// Moves a key from `from` to `to`, stamping the time of the new state; false when it was no
/// longer in `from`.
pub fn set_state(
    conn: &mut DbConnection,
    kid: &Kid,
    from: KeyState,
    to: KeyState,
    at: Timestamp,
) -> QueryResult<bool> {
    let at = Some(at);
    let target = signing_keys::table
        .filter(signing_keys::kid.eq(kid))
        .filter(signing_keys::state.eq(from));
    let state = signing_keys::state.eq(to);
    let updated = match to {
        KeyState::Active => diesel::update(target)
            .set((state, signing_keys::activated_at.eq(at)))
            .execute(conn)?,
        KeyState::Retired => diesel::update(target)
            .set((state, signing_keys::retired_at.eq(at)))
            .execute(conn)?,
        KeyState::Removed => diesel::update(target)
            .set((state, signing_keys::removed_at.eq(at)))
            .execute(conn)?,
        KeyState::Next => diesel::update(target).set(state).execute(conn)?,
    };
    Ok(updated == 1)
}

/// How many statements the key signed that are still valid at `at`.
pub fn live_statements(conn: &mut DbConnection, kid: &Kid, at: Timestamp) -> QueryResult<i64> {
    issued_ssas::table
        .filter(issued_ssas::kid.eq(kid))
        .filter(issued_ssas::expires_at.gt(at))
        .count()
        .get_result(conn)
}

/// How many statements the key signed, and when the last of them expires.
pub fn statements(conn: &mut DbConnection, kid: &Kid) -> QueryResult<(i64, Option<Timestamp>)> {
    let signed: i64 = issued_ssas::table
        .filter(issued_ssas::kid.eq(kid))
        .count()
        .get_result(conn)?;
    let last: Option<Timestamp> = issued_ssas::table
        .filter(issued_ssas::kid.eq(kid))
        .select(diesel::dsl::max(issued_ssas::expires_at))
        .first(conn)?;
    Ok((signed, last))
}

//! Second factors: authenticator apps (TOTP) with their sealed secrets and the last step each
//! accepted, and recovery codes, stored hashed and used once.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{recovery_codes, totp_factors};
use crate::model::{Timestamp, UserId};

/// An authenticator app of an account; pending until `confirmed_at`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_factors)]
pub struct TotpFactor {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    /// Sealed with `keys::mfa::SecretBox`, its id as the label.
    pub sealed_secret: Vec<u8>,
    /// The last time step whose code was accepted.
    pub last_step: i64,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
}

/// Records a new, pending enrolment, forgetting the account's earlier pending ones.
pub fn insert_pending(conn: &mut DbConnection, factor: &TotpFactor) -> QueryResult<()> {
    diesel::delete(
        totp_factors::table
            .filter(totp_factors::user_id.eq(factor.user_id))
            .filter(totp_factors::confirmed_at.is_null()),
    )
    .execute(conn)?;
    diesel::insert_into(totp_factors::table)
        .values(factor)
        .execute(conn)
        .map(drop)
}

/// One of the account's factors, pending or not.
pub fn find(conn: &mut DbConnection, user: UserId, id: &str) -> QueryResult<Option<TotpFactor>> {
    totp_factors::table
        .filter(totp_factors::user_id.eq(user))
        .filter(totp_factors::id.eq(id))
        .select(TotpFactor::as_select())
        .first(conn)
        .optional()
}

/// The account's confirmed factors, oldest first.
pub fn confirmed(conn: &mut DbConnection, user: UserId) -> QueryResult<Vec<TotpFactor>> {
    totp_factors::table
        .filter(totp_factors::user_id.eq(user))
        .filter(totp_factors::confirmed_at.is_not_null())
        .select(TotpFactor::as_select())
        .order(totp_factors::created_at.asc())
        .load(conn)
}

/// Confirms a pending factor with the step of its first code; false when it was not pending.
pub fn confirm(conn: &mut DbConnection, id: &str, step: i64, at: Timestamp) -> QueryResult<bool> {
    diesel::update(
        totp_factors::table
            .filter(totp_factors::id.eq(id))
            .filter(totp_factors::confirmed_at.is_null()),
    )
    .set((
        totp_factors::confirmed_at.eq(at),
        totp_factors::last_step.eq(step),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Accepts a code of `step`: false when a code of that step or a later one was accepted
/// before (a code is accepted once, even by two instances at the same moment).
pub fn accept_step(conn: &mut DbConnection, id: &str, step: i64) -> QueryResult<bool> {
    diesel::update(
        totp_factors::table
            .filter(totp_factors::id.eq(id))
            .filter(totp_factors::last_step.lt(step)),
    )
    .set(totp_factors::last_step.eq(step))
    .execute(conn)
    .map(|n| n == 1)
}

/// Removes one of the account's factors; false when it has no such factor.
pub fn delete(conn: &mut DbConnection, user: UserId, id: &str) -> QueryResult<bool> {
    diesel::delete(
        totp_factors::table
            .filter(totp_factors::user_id.eq(user))
            .filter(totp_factors::id.eq(id)),
    )
    .execute(conn)
    .map(|n| n == 1)
}

/// Replaces the account's recovery codes (the old set ends).
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    user: UserId,
    hashes: &[String],
    at: Timestamp,
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user))).execute(conn)?;
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses a recovery code: false when the account has no such unused code.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user: UserId,
    hash: &str,
    at: Timestamp,
) -> QueryResult<bool> {
    diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(at))
    .execute(conn)
    .map(|n| n == 1)
}

/// How many unused recovery codes the account has.
pub fn recovery_codes_left(conn: &mut DbConnection, user: UserId) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// Removes every second factor of an account (apps, pending or not, and recovery codes);
/// returns how many apps went.
pub fn delete_all(conn: &mut DbConnection, user: UserId) -> QueryResult<usize> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user))).execute(conn)?;
    diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user))).execute(conn)
}
